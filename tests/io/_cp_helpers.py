"""Helpers for the CellProfiler source tests: small plates, pycytominer references, comparisons."""

from __future__ import annotations

import shutil
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import polars as pl

from cytoplan.testing.synthetic import PlateSpec, write_sqlite

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "data_fixtures"
BACKEND = FIXTURES / "cpg0000-synthetic" / "workspace" / "backend" / "2024_01_01_Batch1"
CYTOMINER_DB = BACKEND / "BR00000001" / "BR00000001.sqlite"
CYTOMINER_DB_2 = BACKEND / "BR00000002" / "BR00000002.sqlite"
EXPORTTODATABASE = FIXTURES / "exporttodatabase" / "BR00000003.sqlite"
CSV_ROOT = (
    FIXTURES
    / "cpg0000-synthetic"
    / "workspace"
    / "analysis"
    / "2024_01_01_Batch1"
    / "BR00000001"
    / "analysis"
)

EXPORT_ARGS = {
    "merge_cols": ["ImageNumber"],
    "image_cols": ["ImageNumber", "Image_Metadata_Site"],
    "strata": ["Image_Metadata_Plate", "Image_Metadata_Well"],
}


def small_plate(
    folder: Path,
    layout: str = "cytominer-database",
    *,
    name: str = "P1",
    wells: int = 2,
    sites: int = 2,
    cells: int = 4,
    features: int = 6,
) -> Path:
    """A tiny synthetic plate written by the project's generator."""
    spec = PlateSpec(
        name,
        wells=wells,
        sites_per_well=sites,
        cells_per_site=cells,
        features_per_compartment=features,
    )
    suffix = "cdb" if layout == "cytominer-database" else "etd"
    return write_sqlite(spec, folder / f"{name}-{suffix}.sqlite", layout)  # type: ignore[arg-type]


def execute(path: Path, *statements: str) -> None:
    """Run SQL statements on a SQLite file and commit."""
    con = sqlite3.connect(path)
    try:
        for statement in statements:
            con.execute(statement)
        con.commit()
    finally:
        con.close()


def with_views(path: Path, folder: Path) -> Path:
    """A copy of an ExportToDatabase file with the views pycytominer's defaults need."""
    copy = folder / f"views-{path.name}"
    shutil.copyfile(path, copy)
    execute(
        copy,
        *(
            f"CREATE VIEW {name} AS SELECT * FROM Per_{name.capitalize()}"
            for name in ("image", "cells", "cytoplasm", "nuclei")
        ),
    )
    return copy


def pycytominer_merge(path: Path, **kwargs: object):
    """pycytominer 1.7.1 ``SingleCells(...).merge_single_cells()`` (the reference)."""
    from pycytominer.cyto_utils.cells import SingleCells

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cells = SingleCells(sql_file=f"sqlite:///{path}", **kwargs)  # type: ignore[arg-type]
        try:
            return cells.merge_single_cells()
        finally:
            cells.conn.close()
            cells.engine.dispose()


def _as_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def assert_same_as_pycytominer(ours: pl.DataFrame, ref) -> None:
    """Same rows, columns (names and order) and values; Metadata compared as text.

    pycytominer keeps linking columns as floats (``5.0``) and ids as objects;
    cytoplan's Metadata are strings (``"5"``). Features: equal, NaN == null.
    """
    assert ours.columns == list(ref.columns)
    assert ours.height == len(ref)
    for name in ref.columns:
        mine = ours.get_column(name)
        theirs = ref[name]
        if name.startswith(("Metadata_", "Image_Metadata_")):
            assert mine.dtype == pl.String, name
            assert mine.to_list() == [_as_text(v) for v in theirs.tolist()], name
        else:
            expected = theirs.to_numpy(dtype=float)
            got = mine.cast(pl.Float64).fill_null(np.nan).to_numpy()
            np.testing.assert_array_equal(got, expected, err_msg=name)
