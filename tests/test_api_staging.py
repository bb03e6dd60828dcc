"""``cytoplan.aggregate`` given a row-oriented file converts it to Parquet once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import cytoplan
import cytoplan.io.convert
from cytoplan.io.sqlite import scan_cellprofiler_sqlite

FIXTURES = Path(__file__).resolve().parents[1] / "data_fixtures"
PLATE = (
    FIXTURES / "cpg0000-synthetic/workspace/backend/2024_01_01_Batch1/BR00000001/BR00000001.sqlite"
)


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every staged file (and check it is gone once aggregate returns)."""
    staged: list[Path] = []
    convert = cytoplan.io.convert.convert

    def spy(src: str, dest: Path, **kwargs: Any) -> Any:
        staged.append(Path(dest))
        return convert(src, dest, **kwargs)

    monkeypatch.setattr(cytoplan.io.convert, "convert", spy)
    return staged


def test_sqlite_is_staged_once_and_gives_the_same_wells(conversions: list[Path]) -> None:
    wells = cytoplan.aggregate(PLATE, object_count=True, memory_limit="64MiB").collect()
    direct = cytoplan.ops.aggregate.aggregate(
        scan_cellprofiler_sqlite(PLATE), object_count=True, memory_limit="64MiB"
    ).collect()
    assert len(conversions) == 1
    assert not conversions[0].exists()  # the staged copy is deleted
    assert wells.height == direct.height > 0
    assert_frame_equal(wells, direct)


def test_csv_table_is_staged_and_parquet_is_not(conversions: list[Path], tmp_path: Path) -> None:
    cells = scan_cellprofiler_sqlite(PLATE).collect()
    features = [c for c in cells.columns if c.startswith("Cells_")][:5]
    table = cells.select("Metadata_Plate", "Metadata_Well", *features)
    table.write_csv(tmp_path / "cells.csv")
    table.write_parquet(tmp_path / "cells.parquet")

    from_csv = cytoplan.aggregate(tmp_path / "cells.csv").collect()
    assert len(conversions) == 1
    from_parquet = cytoplan.aggregate(tmp_path / "cells.parquet").collect()
    assert len(conversions) == 1  # Parquet is read in place
    assert from_csv.columns == ["Metadata_Plate", "Metadata_Well", *features]
    assert_frame_equal(from_csv, from_parquet)
    expected = table.group_by("Metadata_Plate", "Metadata_Well").agg(pl.col(features).median())
    assert_frame_equal(
        from_parquet, expected.sort("Metadata_Plate", "Metadata_Well"), check_dtypes=False
    )
