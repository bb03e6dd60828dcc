"""The image table of a plate's CellProfiler SQLite file, for the aggregate step's image columns.

``SingleCells.aggregate_profiles`` (what profiling-recipe runs) adds
``Metadata_Site_Count`` and, with ``image_feature_categories``, image features read
from the plate's image table (:mod:`cytoplan.ops.image_features`). The image table
has one row per field of view, so it is read whole, typed as the single-cell
reader types it: ``Metadata_*`` and TEXT columns as strings, INTEGER columns as
Int64, REAL columns as Float64 (``'nan'`` text → null).

Examples
--------
>>> import pathlib, cytoplan
>>> root = pathlib.Path(cytoplan.__file__).resolve().parents[2]
>>> plate = "data_fixtures/cpg0000-synthetic/workspace/backend/2024_01_01_Batch1/BR00000001"
>>> image = read_image_table(root / plate / "BR00000001.sqlite").collect()
>>> image.shape, image["Metadata_Site"].dtype, image["Image_Count_Cells"].dtype
((48, 17), String, Int64)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import polars as pl

from cytoplan.exceptions import RecipeError

__all__ = ["SQLITE_SUFFIXES", "image_table_of", "read_image_table"]

#: file names read as CellProfiler SQLite
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def read_image_table(path: str | Path, *, table: str | None = None) -> pl.LazyFrame:
    """Every column of the image table (``Image``/``Per_Image``, any case, or ``table``)."""
    from cytoplan.io._sqlite_catalog import quote, read_catalogue, read_only_uri
    from cytoplan.io._sqlite_fetch import ColumnRead, TableReader, Target
    from cytoplan.io.cellprofiler import _find_table

    where = str(path)
    info = _find_table("Image", read_catalogue(path), table, where)
    reads = []
    for name in info.columns:
        affinity = info.affinity(name)
        target: Target
        if name.startswith("Metadata_") or affinity == "TEXT":
            target = "string"
        elif affinity == "INTEGER":
            target = "int"
        elif affinity == "REAL":
            target = "float"
        else:
            target = "key"
        reads.append(ColumnRead(name, name, target))
    uri = read_only_uri(path)
    con = sqlite3.connect(uri, uri=True)
    try:
        (count,) = con.execute(f"SELECT count(*) FROM {quote(info.name)}").fetchone()
    finally:
        con.close()
    reader = TableReader(uri, info, where)
    try:
        frame = reader.read(reads, rows=max(int(count), 1))
    finally:
        reader.close()
    return frame.lazy()


def image_table_of(source: str, storage_options: dict[str, Any] | None) -> pl.LazyFrame:
    """The image table of a plate's single-cell source (a local or ``s3://`` SQLite file)."""
    if not source.lower().endswith(SQLITE_SUFFIXES):
        msg = (
            f"{source!r}: image_feature_categories and site_count read the plate's image "
            "table, which only a CellProfiler SQLite source has; remove them for this input"
        )
        raise RecipeError(msg)
    if "://" in source:
        from cytoplan.io.sqlite import fetch_remote

        return read_image_table(fetch_remote(source, storage_options))
    return read_image_table(source)
