"""Cell centres from a CellProfiler SQLite, nested per image and joined onto a LoadData table.

pycytominer's ``CellLocation`` as a library function: the ``Nuclei`` table is joined
to the ``Image`` table on (image, table) number in SQLite, the centres of each image's
cells are packed into one list column ``CellCenters`` (``{ObjectNumber, X, Y}``
structs, named after the source columns), and that table is left-joined onto the
metadata (LoadData) table on the image key. The metadata may be local or remote
(``s3://``; ``storage_options`` as for every cytoplan source); a remote SQLite file
is downloaded once into cytoplan's validated cache.

Examples
--------
>>> import sqlite3, tempfile, pathlib, polars as pl
>>> db = pathlib.Path(tempfile.mkdtemp()) / "plate.sqlite"
>>> con = sqlite3.connect(db)
>>> _ = con.execute("CREATE TABLE Image (TableNumber INT, ImageNumber INT, Metadata_Plate TEXT,"
...                 " Metadata_Well TEXT, Metadata_Site TEXT)")
>>> _ = con.execute("INSERT INTO Image VALUES (1, 1, 'P', 'A01', '1')")
>>> _ = con.execute("CREATE TABLE Nuclei (TableNumber INT, ImageNumber INT, ObjectNumber INT,"
...                 " Nuclei_Location_Center_X REAL, Nuclei_Location_Center_Y REAL)")
>>> _ = con.executemany("INSERT INTO Nuclei VALUES (1, 1, ?, ?, ?)", [(1, 5.0, 6.0), (2, 7.0, 8.0)])
>>> con.commit(); con.close()
>>> meta = pl.DataFrame({"Metadata_Plate": ["P"], "Metadata_Well": ["A01"], "Metadata_Site": ["1"]})
>>> out = add_cell_locations(meta, db)
>>> out["CellCenters"].to_list()[0][1]
{'ObjectNumber': 2, 'Nuclei_Location_Center_X': 7.0, 'Nuclei_Location_Center_Y': 8.0}
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from cytoplan.exceptions import ColumnNotFoundError, SourceError
from cytoplan.io._atomic import atomic_path, is_remote
from cytoplan.io._sqlite_catalog import check_sqlite_file, quote, read_only_uri
from cytoplan.io.remote import storage_options_for

__all__ = ["CELL_CENTERS", "add_cell_locations", "cell_locations"]

#: name of the nested column of cell centres
CELL_CENTERS = "CellCenters"
_IMAGE_KEY = ("Metadata_Plate", "Metadata_Well", "Metadata_Site")


def _local_sqlite(source: str | Path, storage_options: Mapping[str, Any] | None) -> Path:
    if is_remote(source):
        from cytoplan.io._remote_sqlite import cached_copy

        return cached_copy(str(source), storage_options)  # type: ignore[arg-type]
    return check_sqlite_file(source)


def _columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in con.execute(f"PRAGMA table_info({quote(table)})")]


def cell_locations(
    single_cell: str | Path,
    *,
    image_key: Sequence[str] = _IMAGE_KEY,
    image_column: str = "ImageNumber",
    object_column: str = "ObjectNumber",
    table_column: str = "TableNumber",
    cell_x_loc: str = "Nuclei_Location_Center_X",
    cell_y_loc: str = "Nuclei_Location_Center_Y",
    storage_options: Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """One row per image: the image key (text), image and table numbers, ``CellCenters``.

    Rows are sorted by the image key, image and table number; the centres of an image
    keep the ``Nuclei`` table's order.

    Raises
    ------
    SourceError
        Not a SQLite file, or no ``Image``/``Nuclei`` table.
    ColumnNotFoundError
        A required column is missing (naming the table).
    """
    path = _local_sqlite(single_cell, storage_options)
    keys = list(image_key)
    with sqlite3.connect(read_only_uri(path), uri=True) as con:
        tables = {
            row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not {"Image", "Nuclei"} <= tables:
            msg = (
                f"{str(path)!r}: Image and Nuclei tables are not present in the single_cell "
                f"file (tables: {sorted(tables)})"
            )
            raise SourceError(msg)
        nuclei = [image_column, table_column, object_column, cell_x_loc, cell_y_loc]
        have = _columns(con, "Nuclei")
        if missing := [c for c in nuclei if c not in have]:
            raise ColumnNotFoundError.from_missing(missing, have, where=f"{path} table Nuclei")
        have = _columns(con, "Image")
        if missing := [c for c in [image_column, table_column, *keys] if c not in have]:
            raise ColumnNotFoundError.from_missing(missing, have, where=f"{path} table Image")
        n, i = quote("Nuclei"), quote("Image")
        select = ", ".join(
            [
                f"CAST({n}.{quote(table_column)} AS INTEGER) AS {quote(table_column)}",
                f"CAST({n}.{quote(image_column)} AS INTEGER) AS {quote(image_column)}",
                f"CAST({n}.{quote(object_column)} AS INTEGER) AS {quote(object_column)}",
                f"CAST({n}.{quote(cell_x_loc)} AS REAL) AS {quote(cell_x_loc)}",
                f"CAST({n}.{quote(cell_y_loc)} AS REAL) AS {quote(cell_y_loc)}",
                *(f"CAST({i}.{quote(k)} AS TEXT) AS {quote(k)}" for k in keys),
            ]
        )
        query = (
            f"SELECT {select} FROM {n} INNER JOIN {i} "
            f"ON {n}.{quote(image_column)} = {i}.{quote(image_column)} "
            f"AND {n}.{quote(table_column)} = {i}.{quote(table_column)}"
        )
        cursor = con.execute(query)
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    schema: dict[str, Any] = {
        table_column: pl.Int64,
        image_column: pl.Int64,
        object_column: pl.Int64,
        cell_x_loc: pl.Float64,
        cell_y_loc: pl.Float64,
        **dict.fromkeys(keys, pl.String),
    }
    joined = pl.DataFrame(rows, schema=[(c, schema[c]) for c in names], orient="row")
    group = [*keys, image_column, table_column]
    return (
        joined.group_by(group, maintain_order=True)
        .agg(pl.struct(object_column, cell_x_loc, cell_y_loc).alias(CELL_CENTERS))
        .sort(group, nulls_last=True, maintain_order=True)
    )


def _read_metadata(
    metadata: str | Path | pl.DataFrame, storage_options: Mapping[str, Any] | None
) -> pl.DataFrame:
    if isinstance(metadata, pl.DataFrame):
        return metadata
    text = str(metadata)
    if not text.endswith((".csv", ".parquet")):
        msg = f"metadata file must be a CSV or a Parquet file, got {text!r}"
        raise SourceError(msg)
    if not is_remote(text) and not Path(text).is_file():
        msg = f"metadata file not found: {text!r}"
        raise SourceError(msg)
    options = storage_options_for(text, storage_options) if is_remote(text) else None
    if text.endswith(".csv"):
        frame = pl.read_csv(text, infer_schema=False, storage_options=options)
    else:
        frame = pl.read_parquet(text, storage_options=options)
    return frame.with_columns(pl.all().cast(pl.String))


def add_cell_locations(
    metadata: str | Path | pl.DataFrame,
    single_cell: str | Path,
    *,
    output: str | Path | None = None,
    overwrite: bool = False,
    image_key: Sequence[str] = _IMAGE_KEY,
    image_column: str = "ImageNumber",
    object_column: str = "ObjectNumber",
    table_column: str = "TableNumber",
    cell_x_loc: str = "Nuclei_Location_Center_X",
    cell_y_loc: str = "Nuclei_Location_Center_Y",
    storage_options: Mapping[str, Any] | None = None,
) -> pl.DataFrame | Path:
    """Add each image's cell centres to a LoadData/metadata table (left join).

    Parameters
    ----------
    metadata
        The metadata table (CSV or Parquet, local or remote; all columns read as
        text), or a frame.
    single_cell
        The plate's CellProfiler SQLite (local or ``s3://``).
    output
        Write the result as Parquet (atomically) and return its path. With
        ``overwrite=False`` an existing ``output`` is returned untouched.
    image_key, image_column, object_column, table_column, cell_x_loc, cell_y_loc
        Column names (pycytominer's defaults).
    storage_options
        For remote inputs.

    Returns
    -------
    polars.DataFrame or pathlib.Path
        Metadata rows in their order, with ``ImageNumber``, ``TableNumber`` and
        ``CellCenters`` (null for images without cells); or the output path.
    """
    if output is not None and not overwrite and Path(output).exists():
        return Path(output)
    meta = _read_metadata(metadata, storage_options)
    keys = list(image_key)
    if missing := [k for k in keys if k not in meta.columns]:
        raise ColumnNotFoundError.from_missing(missing, meta.columns, where="the metadata table")
    cells = cell_locations(
        single_cell,
        image_key=keys,
        image_column=image_column,
        object_column=object_column,
        table_column=table_column,
        cell_x_loc=cell_x_loc,
        cell_y_loc=cell_y_loc,
        storage_options=storage_options,
    )
    meta_keys = meta.with_columns(pl.col(k).cast(pl.String) for k in keys)
    out = meta_keys.join(cells, on=keys, how="left", maintain_order="left", nulls_equal=False)
    if output is None:
        return out
    with atomic_path(output) as tmp:
        out.write_parquet(tmp)
    return Path(output)
