"""convert: Parquet output equals the scan, is atomic, deterministic, and refuses bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from _cp_helpers import CSV_ROOT, CYTOMINER_DB, EXPORTTODATABASE, execute, small_plate
from polars.testing import assert_frame_equal

from cytoplan import LinkSpec, convert, scan_cellprofiler_sqlite
from cytoplan.exceptions import ColumnNotFoundError, JoinError, SourceError
from cytoplan.io import convert as convert_module


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_sqlite_to_parquet_equals_the_scan(tmp_path: Path) -> None:
    dest = tmp_path / "sc.parquet"
    report = convert(CYTOMINER_DB, dest, row_group_size=100, progress=False)
    expected = scan_cellprofiler_sqlite(CYTOMINER_DB).collect()
    assert_frame_equal(pl.read_parquet(dest), expected)
    meta = pq.ParquetFile(dest).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [100, 100, 100, 84]
    assert (report.rows, report.columns, report.row_groups) == (384, 110, 4)
    assert report.kind == "sqlite"
    assert report.table_rows == {"cytoplasm": 384, "cells": 384, "nuclei": 384, "image": 48}
    assert report.bytes == dest.stat().st_size
    assert _files(tmp_path) == ["sc.parquet"]


def test_exporttodatabase_and_columns(tmp_path: Path) -> None:
    dest = tmp_path / "sc.parquet"
    convert(EXPORTTODATABASE, dest, columns=["Image_Metadata_Well", "Nuclei_AreaShape_Area"])
    got = pl.read_parquet(dest)
    assert got.columns == ["Image_Metadata_Well", "Nuclei_AreaShape_Area"]
    assert got.height == 144


def test_csv_folders_and_profile_copy(tmp_path: Path) -> None:
    from_csv = tmp_path / "csv.parquet"
    report = convert(CSV_ROOT, from_csv, progress=False)
    assert report.kind == "csv-folders"
    assert_frame_equal(pl.read_parquet(from_csv), scan_cellprofiler_sqlite(CYTOMINER_DB).collect())
    copy = tmp_path / "copy.parquet"
    assert convert(from_csv, copy).kind == "profiles"
    assert_frame_equal(pl.read_parquet(copy), pl.read_parquet(from_csv))
    text = tmp_path / "sc.csv.gz"
    convert(CYTOMINER_DB, text)
    again = tmp_path / "again.parquet"
    assert convert(text, again).rows == 384
    assert pl.read_parquet(again).schema["Metadata_Plate"] == pl.String


def test_convert_is_deterministic_across_runs_and_threads(tmp_path: Path) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    convert(CYTOMINER_DB, first, row_group_size=64)
    convert(CYTOMINER_DB, second, row_group_size=64, memory_limit="64MiB")
    assert first.read_bytes() == second.read_bytes()
    code = (
        "import sys; from cytoplan import convert; "
        "convert(sys.argv[1], sys.argv[2], row_group_size=64, progress=False)"
    )
    outputs = []
    for threads in ("1", "2"):
        out = tmp_path / f"t{threads}.parquet"
        env = dict(os.environ, POLARS_MAX_THREADS=threads)
        subprocess.run(
            [sys.executable, "-c", code, str(CYTOMINER_DB), str(out)], check=True, env=env
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == first.read_bytes()


def test_failure_while_writing_leaves_nothing_and_keeps_a_good_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "sc.parquet"
    dest.write_bytes(b"good old file")
    calls = {"n": 0}
    original = convert_module._ParquetSink.add

    def failing(self: convert_module._ParquetSink, frame: pl.DataFrame) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            msg = "disk full"
            raise OSError(msg)
        original(self, frame)

    monkeypatch.setattr(convert_module._ParquetSink, "add", failing)
    with pytest.raises(OSError, match="disk full"):
        convert(CYTOMINER_DB, dest, row_group_size=64)
    assert dest.read_bytes() == b"good old file"
    assert _files(tmp_path) == ["sc.parquet"]


def test_bad_inputs_leave_no_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "sc.parquet"
    with pytest.raises(SourceError, match="input not found"):
        convert(tmp_path / "missing.sqlite", dest)
    orphan = small_plate(tmp_path)
    execute(orphan, "DELETE FROM Nuclei WHERE ObjectNumber = 1")
    with pytest.raises(JoinError, match=r"no matching row in 'Nuclei'"):
        convert(orphan, dest)
    no_link = small_plate(tmp_path, name="P2")
    execute(no_link, "ALTER TABLE Cytoplasm DROP COLUMN Cytoplasm_Parent_Cells")
    with pytest.raises(ColumnNotFoundError, match="Cytoplasm_Parent_Cells"):
        convert(no_link, dest)
    not_sqlite = tmp_path / "plate.sqlite"
    not_sqlite.write_text("hello")
    with pytest.raises(SourceError, match="not a SQLite database"):
        convert(not_sqlite, dest)
    assert _files(out) == []
    report = convert(orphan, dest, link=LinkSpec(orphans="drop"))
    assert report.rows == 12
    assert report.dropped == {"nuclei": 4}


def test_missing_output_folder(tmp_path: Path) -> None:
    from cytoplan.exceptions import CytoplanError

    with pytest.raises(CytoplanError, match="does not exist"):
        convert(CYTOMINER_DB, tmp_path / "no" / "sc.parquet")


def test_the_cli_drops_orphans_only_when_asked(tmp_path: Path) -> None:
    orphan = small_plate(tmp_path)
    execute(orphan, "DELETE FROM Nuclei WHERE ObjectNumber = 1")
    dest = tmp_path / "sc.parquet"
    command = [sys.executable, "-m", "cytoplan.cli", "convert", str(orphan), str(dest), "-q"]
    refused = subprocess.run(command, capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert "(CLI: cytoplan convert --drop-orphans)" in refused.stderr
    assert not dest.exists()
    subprocess.run([*command, "--drop-orphans"], check=True)
    expected = scan_cellprofiler_sqlite(orphan, link=LinkSpec(orphans="drop")).collect()
    assert pl.read_parquet(dest).height == expected.height == 12


def test_the_cli_aggregates_exporttodatabase_by_its_image_metadata(tmp_path: Path) -> None:
    dest = tmp_path / "wells.parquet"
    command = [sys.executable, "-m", "cytoplan.cli", "aggregate", str(EXPORTTODATABASE), str(dest)]
    refused = subprocess.run(command, capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert "did you mean 'Image_Metadata_Plate', 'Image_Metadata_Well'?" in refused.stderr
    keys = ["--strata", "Image_Metadata_Plate,Image_Metadata_Well", "-q"]
    sites = ["--fields-of-view", "1", "--fields-of-view-feature", "Image_Metadata_Site"]
    subprocess.run([*command, *keys, *sites], check=True)
    cells = scan_cellprofiler_sqlite(EXPORTTODATABASE).collect()
    one_site = cells.filter(pl.col("Image_Metadata_Site").cast(pl.String) == "1")
    feature = next(c for c in cells.columns if c.startswith("Cells_") and cells[c].dtype.is_float())
    expected = (
        one_site.group_by("Image_Metadata_Plate", "Image_Metadata_Well")
        .agg(pl.col(feature).median())
        .sort("Image_Metadata_Plate", "Image_Metadata_Well")
    )
    got = pl.read_parquet(dest)
    assert got["Image_Metadata_Well"].to_list() == expected["Image_Metadata_Well"].to_list()
    assert got[feature].to_list() == expected[feature].to_list()


def test_bad_destinations_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    from cytoplan.exceptions import ParameterError

    plate = small_plate(tmp_path)
    before = plate.read_bytes()
    # convert used to write Parquet under any name: over its own input, or under a
    # name no reader could tell the format of, and only then report an error
    for dest in (plate, tmp_path / "out", tmp_path / "out.db", tmp_path / "out.json"):
        with pytest.raises(ParameterError, match="cannot tell the output format"):
            convert(plate, dest)
    assert plate.read_bytes() == before
    copy = tmp_path / "plate.parquet"
    plate_named_parquet = tmp_path / "cells.parquet"
    plate_named_parquet.write_bytes(before)  # a SQLite file under a Parquet name
    with pytest.raises(ParameterError, match="would write over its input"):
        convert(plate_named_parquet, plate_named_parquet)
    for size in (0, -5, 2.5):
        with pytest.raises(ParameterError, match="row_group_size must be a whole number"):
            convert(plate, copy, row_group_size=size)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([plate.name, "cells.parquet"])


def test_a_system_error_names_the_output_not_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)  # as a folder the user cannot write to
    with pytest.raises(PermissionError) as raised:
        convert(CYTOMINER_DB, tmp_path / "sc.parquet")
    assert raised.value.filename == str(tmp_path / "sc.parquet")
    assert list(tmp_path.iterdir()) == []
