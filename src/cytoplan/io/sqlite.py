"""Scan a CellProfiler SQLite file as merged single cells (a lazy, streaming LazyFrame).

The result equals pycytominer 1.7.1's ``SingleCells(...).merge_single_cells()``
with default arguments — same rows, row order, column names and column order —
except that ``Metadata_*`` (and ``Image_Metadata_*``) columns are strings
(docs/ingest.md lists the differences).

Nothing is read until the frame is collected or sunk. Then only the key
columns of every table are read first (to plan the join), and the requested
columns are streamed in row batches: ``.select(...)`` reads only those columns
(the projection goes into the SQL), ``.head(n)`` reads only the first rows,
and a filter on image columns (``Metadata_Well``, ...) skips the rows of other
images before any feature is read.

Examples
--------
>>> import tempfile, pathlib
>>> from cytoplan.testing.synthetic import PlateSpec, write_sqlite
>>> path = write_sqlite(PlateSpec("P1", wells=2, sites_per_well=1),
...                     pathlib.Path(tempfile.mkdtemp()) / "P1.sqlite")
>>> lf = scan_cellprofiler_sqlite(path)
>>> lf.select("Metadata_Well", "Cells_AreaShape_Area").head(2).collect().shape
(2, 2)
>>> lf.collect_schema()["Metadata_ImageNumber"]
String
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from cytoplan.config import settings
from cytoplan.io._atomic import is_remote
from cytoplan.io._sqlite_plate import SqlitePlate
from cytoplan.io.cellprofiler import IMAGE, LinkSpec, OutputColumn

if TYPE_CHECKING:
    from cytoplan._typing import StorageOptions

__all__ = ["chunk_rows_for", "fetch_remote", "scan_cellprofiler_sqlite"]

#: Bytes per value assumed when sizing row batches (float64; strings are rare and short).
_VALUE_BYTES = 8
#: Fraction of the memory limit one row batch may take (a few are in flight at once).
_BATCH_SHARE = 16


def chunk_rows_for(columns: Sequence[OutputColumn], memory_limit: int | None = None) -> int:
    """Rows per streamed batch so that a batch is ~1/16 of the memory limit (1,024–65,536)."""
    limit = memory_limit if memory_limit is not None else settings().memory_limit
    width = max(1, len(columns)) * _VALUE_BYTES
    rows = limit // _BATCH_SHARE // width
    return int(min(65_536, max(1_024, rows)))


def fetch_remote(source: str, storage_options: StorageOptions | None) -> Path:
    """A local copy of a remote SQLite file (``s3://...``), downloaded once and reused.

    SQLite needs random access and a scan reads every page of the object
    tables, so a remote file is downloaded whole into a validated cache (see
    :func:`cytoplan.io._remote_sqlite.cached_copy`: keyed by URL, reused while
    the object's ETag and size are unchanged; 403/404 raise SourceError).
    """
    from cytoplan.io._remote_sqlite import cached_copy

    return cached_copy(source, storage_options)


class _Scan:
    """The io source behind the LazyFrame: plans once, streams per collect."""

    def __init__(self, plate: SqlitePlate, columns: tuple[OutputColumn, ...]) -> None:
        self.plate = plate
        self.columns = columns
        self._lock = threading.Lock()

    def __call__(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        layout = self.plate.layout
        names = with_columns if with_columns is not None else [c.name for c in self.columns]
        columns = layout.select(names)
        plan = self.plate.plan().frame
        if predicate is not None and _image_only(predicate, layout.columns):
            plan = self._filter_plan(plan, predicate)
            predicate = None
        if n_rows is not None and predicate is None:
            plan = plan.head(n_rows)
        if predicate is not None:
            # the filter needs those columns too; read them and drop them after filtering
            needed = [n for n in predicate.meta.root_names() if n not in names]
            columns = layout.select([*names, *needed])
        chunk = chunk_rows_for(columns)
        produced = 0
        for frame in self.plate.stream(columns, plan, chunk_rows=chunk):
            if predicate is not None:
                frame = frame.filter(predicate).select(names)
                if n_rows is not None:
                    frame = frame.head(n_rows - produced)
            produced += frame.height
            yield frame
            if n_rows is not None and produced >= n_rows:
                return

    def _filter_plan(self, plan: pl.DataFrame, predicate: pl.Expr) -> pl.DataFrame:
        from cytoplan.io.cellprofiler import IMG

        roots = predicate.meta.root_names()
        columns = self.plate.layout.select(roots)
        image = self.plate.image_columns(columns)
        values = image.select(pl.all().gather(plan.get_column(IMG)))
        keep = values.select(predicate.fill_null(value=False)).to_series()
        return plan.filter(keep)


def _image_only(predicate: pl.Expr, columns: Sequence[OutputColumn]) -> bool:
    by_name = {c.name: c for c in columns}
    roots = predicate.meta.root_names()
    return bool(roots) and all(name in by_name and by_name[name].table == IMAGE for name in roots)


def scan_cellprofiler_sqlite(
    path: str | Path,
    *,
    link: LinkSpec | None = None,
    columns: Sequence[str] | None = None,
    storage_options: StorageOptions | None = None,
) -> pl.LazyFrame:
    """Merged single cells of a CellProfiler SQLite file, as a lazy frame.

    Parameters
    ----------
    path : str or Path
        A cytominer-database (``Image``, ``Cells``, ... with ``TableNumber``) or
        ExportToDatabase (``Per_Image``, ``Per_Cells``, ...) SQLite file. A URL
        (``s3://...``) is downloaded once to the temporary folder.
    link : LinkSpec, optional
        How tables link (pycytominer's defaults; tables and keys are detected).
    columns : sequence of str, optional
        Keep only these output columns (the same as ``.select(columns)``).
    storage_options : dict, optional
        fsspec options for a remote ``path``.

    Returns
    -------
    polars.LazyFrame
        One row per cytoplasm object that has a cell and a nucleus, in the
        cytoplasm table's order; image metadata first, then cytoplasm, cells and
        nuclei columns, named as pycytominer names them. ``Metadata_*`` are
        strings, features Float64 (TEXT ``'nan'`` → null, ``'inf'`` → inf).

    Raises
    ------
    SourceError
        Missing or unreadable file, not a SQLite file, missing or empty table.
    ColumnNotFoundError
        A merge key, linking column, image column or requested column is missing.
    JoinError
        Orphan objects (unless ``LinkSpec(orphans="drop")``) or duplicated keys;
        raised when the frame is collected.
    """
    spec = link if link is not None else LinkSpec()
    source = fetch_remote(str(path), storage_options) if is_remote(path) else Path(path)
    plate = SqlitePlate(source, spec)
    selected = plate.layout.select(list(columns) if columns is not None else None)
    schema = {c.name: c.dtype for c in selected}

    from polars.io.plugins import register_io_source

    return register_io_source(
        _Scan(plate, selected),
        schema=schema,
        validate_schema=False,
        is_pure=True,
        explain_name="cytoplan CellProfiler SQLite",
        explain_detail=f"{plate.where} ({len(plate.layout.compartments)} compartments)",
    )
