"""Collate CellProfiler per-site CSV folders into one plate SQLite and/or Parquet file.

pycytominer's ``collate`` shells out to ``cytominer-database ingest`` (and ``aws s3
sync``); this module does the ingest in-process, one site folder and one table at a
time, so memory holds one CSV file whatever the plate size:

* SQLite, in the cytominer-database layout: tables ``Image``, ``Cells``,
  ``Cytoplasm``, ``Nuclei`` (one per compartment); compartment columns prefixed with
  the compartment (``Cells_AreaShape_Area``) except ``ImageNumber``/``ObjectNumber``;
  image columns other than ``ImageNumber`` and ``Metadata_*`` prefixed ``Image_``;
  a ``TableNumber`` per folder (:func:`cytoplan.io.csv_folder.table_number`), and
  the indexes pycytominer's collate creates. The file is written under a temporary
  name and renamed when complete.
* Parquet: the merged single cells (:func:`cytoplan.io.csv_folder.scan_cellprofiler_csv`,
  the same table the SQLite scan gives), streamed to the file.

:func:`download_csv_folders` and :func:`download_file` copy the inputs from an
object store (``s3://``, through fsspec/s3fs) the way pycytominer's ``aws s3
sync``/``aws s3 cp`` calls do; :func:`cytoplan.io.remote.upload_file` publishes the
results.

Examples
--------
>>> import tempfile, pathlib
>>> from cytoplan.testing.synthetic import PlateSpec, write_csv_folders
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = write_csv_folders(PlateSpec("P1", wells=2, sites_per_well=1), root / "csv")
>>> report = collate_csv_folders(root / "csv", sqlite=root / "P1.sqlite")
>>> report.tables["Cells"], report.folders
(16, 2)
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cytoplan.exceptions import SchemaError, SourceError
from cytoplan.io._atomic import atomic_path
from cytoplan.io._sqlite_catalog import quote
from cytoplan.io.cellprofiler import LinkSpec
from cytoplan.io.csv_folder import find_site_folders, scan_cellprofiler_csv, table_number
from cytoplan.io.sinks import sink_row_group_size

__all__ = [
    "CollateReport",
    "collate_csv_folders",
    "download_csv_folders",
    "download_file",
    "ingest_table_name",
]

_UNPREFIXED = ("ImageNumber", "ObjectNumber")
_DECLARED = {pl.Int64: "INTEGER", pl.Float64: "REAL", pl.String: "TEXT", pl.Boolean: "INTEGER"}
_COMPARTMENTS = ("Cells", "Cytoplasm", "Nuclei")


@dataclass
class CollateReport:
    """What a collate wrote: rows per SQLite table, folders read, output paths."""

    folders: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    sqlite: Path | None = None
    parquet: Path | None = None
    parquet_rows: int | None = None


def ingest_table_name(column: str, table: str) -> str:
    """A CSV column's name in the cytominer-database SQLite.

    >>> ingest_table_name("AreaShape_Area", "Cells"), ingest_table_name("Count_Cells", "Image")
    ('Cells_AreaShape_Area', 'Image_Count_Cells')
    >>> ingest_table_name("Metadata_Well", "Image"), ingest_table_name("ObjectNumber", "Nuclei")
    ('Metadata_Well', 'ObjectNumber')
    """
    if table == "Image":
        keep = column == "ImageNumber" or column.startswith("Metadata_")
        return column if keep else f"Image_{column}"
    return column if column in _UNPREFIXED else f"{table}_{column}"


def _csv(folder: Path, table: str) -> Path:
    exact = folder / f"{table}.csv"
    if exact.is_file():
        return exact
    for child in folder.iterdir():
        if child.is_file() and child.name.lower() == f"{table}.csv".lower():
            return child
    files = sorted(p.name for p in folder.iterdir())
    msg = f"{table}.csv not found in {str(folder)!r}; files: {files}"
    raise SourceError(msg)


def _read(path: Path, table: str, folder: Path) -> pl.DataFrame:
    names = pl.scan_csv(path, n_rows=0).collect_schema().names()
    overrides = {n: pl.String() for n in names if n.startswith("Metadata_")}
    try:
        frame = pl.read_csv(path, schema_overrides=overrides, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError) as err:
        msg = f"cannot read {str(path)!r}: {err}"
        raise SourceError(msg) from err
    renamed = frame.rename({c: ingest_table_name(c, table) for c in frame.columns})
    number = pl.lit(table_number(folder), dtype=pl.String).alias("TableNumber")
    return renamed.select(number, pl.all())


def _create(con: sqlite3.Connection, table: str, frame: pl.DataFrame) -> list[str]:
    columns = []
    for name, dtype in frame.schema.items():
        declared = "TEXT" if name.startswith("Metadata_") else _DECLARED.get(type(dtype), "REAL")
        if name == "TableNumber":
            declared = "TEXT"
        columns.append(f"{quote(name)} {declared}")
    con.execute(f"CREATE TABLE {quote(table)} ({', '.join(columns)})")
    return frame.columns


def _indexes(
    con: sqlite3.Connection, compartments: Sequence[str], image_cols: Sequence[str]
) -> None:
    con.execute(
        f"CREATE INDEX {quote('table_image_idx')} ON {quote('Image')} "
        f"({quote('TableNumber')}, {quote('ImageNumber')})"
    )
    for table in compartments:
        con.execute(
            f"CREATE INDEX {quote(table.lower() + '_idx')} ON {quote(table)} "
            f"({quote('TableNumber')}, {quote('ImageNumber')}, {quote('ObjectNumber')})"
        )
    if {"Metadata_Plate", "Metadata_Well"} <= set(image_cols):
        con.execute(
            f"CREATE INDEX {quote('plate_well_image_idx')} ON {quote('Image')} "
            f"({quote('Metadata_Plate')}, {quote('Metadata_Well')})"
        )


def collate_csv_folders(
    root: str | Path,
    *,
    sqlite: str | Path | None = None,
    parquet: str | Path | None = None,
    compartments: Sequence[str] = _COMPARTMENTS,
    plate: str | None = None,
    overwrite: bool = False,
) -> CollateReport:
    """Ingest a plate's CellProfiler CSV folders into SQLite and/or Parquet.

    Parameters
    ----------
    root
        The folder holding one sub-folder per site (each with ``Image.csv`` and one
        CSV per compartment), or one such folder.
    sqlite
        Write the cytominer-database SQLite here.
    parquet
        Write the merged single cells here (Parquet).
    compartments
        Object tables to ingest (CSV stems, e.g. ``Cells``).
    plate
        If given and the image table has no ``Metadata_Plate``, add it with this value
        (pycytominer's ``--munge``-free ``Metadata_Plate`` copy).
    overwrite
        Replace existing outputs (otherwise an existing output raises).

    Returns
    -------
    CollateReport
        Rows written per table and the output paths.

    Raises
    ------
    SourceError
        No site folders, a missing CSV, or an output that exists without ``overwrite``.
    SchemaError
        A folder's columns differ from the first folder's.
    """
    if sqlite is None and parquet is None:
        msg = "collate needs an output: give sqlite=..., parquet=... or both"
        raise SourceError(msg)
    for out in (sqlite, parquet):
        if out is not None and Path(out).exists() and not overwrite:
            msg = f"{str(out)!r} exists; pass overwrite=True to replace it"
            raise SourceError(msg)
    folders = find_site_folders(root)
    report = CollateReport(folders=len(folders))
    tables = ["Image", *compartments]
    if sqlite is not None:
        with atomic_path(sqlite) as tmp:
            con = sqlite3.connect(tmp)
            try:
                columns: dict[str, list[str]] = {}
                # a header-only file (a site without cells) types every column as text:
                # a table is declared from the first folder with rows
                empty: dict[str, tuple[Path, pl.DataFrame]] = {}
                for folder in folders:
                    for table in tables:
                        frame = _read(_csv(folder, table), table, folder)
                        if (
                            table == "Image"
                            and plate is not None
                            and "Metadata_Plate" not in frame.columns
                        ):
                            frame = frame.with_columns(pl.lit(plate).alias("Metadata_Plate"))
                        if frame.height == 0 and table not in columns:
                            empty.setdefault(table, (folder, frame))
                            continue
                        if table not in columns:
                            columns[table] = _create(con, table, frame)
                        elif frame.columns != columns[table]:
                            extra = sorted(set(frame.columns) ^ set(columns[table]))
                            msg = (
                                f"{str(folder / (table + '.csv'))!r}: columns differ from the "
                                f"first folder's ({extra[:5]}); every site must have the same "
                                "columns"
                            )
                            raise SchemaError(msg)
                        marks = ", ".join("?" * frame.width)
                        con.executemany(
                            f"INSERT INTO {quote(table)} VALUES ({marks})", frame.iter_rows()
                        )
                        report.tables[table] = report.tables.get(table, 0) + frame.height
                for table, (folder, frame) in empty.items():
                    if table not in columns:  # no folder has rows: declared as read
                        columns[table] = _create(con, table, frame)
                        report.tables[table] = 0
                    elif frame.columns != columns[table]:
                        extra = sorted(set(frame.columns) ^ set(columns[table]))
                        msg = (
                            f"{str(folder / (table + '.csv'))!r}: columns differ from the "
                            f"other folders' ({extra[:5]}); every site must have the same columns"
                        )
                        raise SchemaError(msg)
                _indexes(con, compartments, columns["Image"])
                con.commit()
            finally:
                con.close()
        report.sqlite = Path(sqlite)
    if parquet is not None:
        spec = (
            LinkSpec(compartments=tuple(c.lower() for c in compartments))
            if tuple(compartments) != _COMPARTMENTS
            else LinkSpec()
        )
        lf = scan_cellprofiler_csv(root, link=spec)
        rows_per_group = sink_row_group_size(len(lf.collect_schema()))
        with atomic_path(parquet) as tmp:
            lf.sink_parquet(tmp, row_group_size=rows_per_group)
        report.parquet = Path(parquet)
        report.parquet_rows = pl.scan_parquet(parquet).select(pl.len()).collect().item()
    return report


def download_csv_folders(
    url: str,
    local: str | Path,
    *,
    tables: Sequence[str] = ("Image", *_COMPARTMENTS),
    storage_options: Mapping[str, object] | None = None,
) -> list[Path]:
    """Copy a plate's per-site CSV files from an object-store prefix to a local folder.

    What pycytominer's ``aws s3 sync --exclude "*" --include "*/Cells.csv" ...``
    copies: every object under ``url`` whose name is ``<table>.csv`` for one of
    ``tables`` and that sits in a sub-folder of the prefix (``<url>/<site>/Cells.csv``,
    at any depth), to the same relative path under ``local``. Other objects are not
    downloaded. Each file is written atomically; existing local files are replaced.

    Parameters
    ----------
    url
        The remote prefix (``s3://bucket/.../analysis``).
    local
        The local folder (created).
    tables
        CSV stems to copy (default ``Image``, ``Cells``, ``Cytoplasm``, ``Nuclei``).
    storage_options
        Endpoint, region, credentials (:func:`cytoplan.io.remote.storage_options_for`);
        by default from the ``AWS_*`` environment, as the AWS CLI does.

    Returns
    -------
    list of Path
        The files written, sorted.

    Raises
    ------
    SourceError
        The prefix cannot be listed or an object cannot be read.
    """
    from cytoplan.io.remote import filesystem, retrying

    fs = filesystem(url, storage_options)
    prefix = fs._strip_protocol(url.rstrip("/"))
    found = retrying(lambda: fs.find(prefix), url=url, action="list")
    wanted = {f"{table}.csv" for table in tables}
    root = Path(local)
    written = []
    for key in sorted(found):
        relative = key[len(prefix) :].lstrip("/")
        if "/" not in relative or relative.rsplit("/", 1)[1] not in wanted:
            continue
        target = root.joinpath(*relative.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        source = f"{url.rstrip('/')}/{relative}"
        with atomic_path(target) as tmp:
            retrying(functools.partial(fs.get_file, key, str(tmp)), url=source)
        written.append(target)
    return written


def download_file(
    url: str, local: str | Path, storage_options: Mapping[str, object] | None = None
) -> Path:
    """Copy one object to ``local`` (parent folders created; written atomically)."""
    from cytoplan.io.remote import filesystem, retrying

    fs = filesystem(url, storage_options)
    target = Path(local)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        retrying(lambda: fs.get_file(url, str(tmp)), url=url)
    return target
