"""Ingest: a plate's single cells to Parquet, in bounded memory, atomically and deterministically.

:func:`convert` takes a CellProfiler SQLite file, a folder of CellProfiler CSV
site folders, or an existing profile table (Parquet/CSV/TSV, copied by
streaming), and writes the merged single cells to one Parquet file:

* **bounded memory** — rows are streamed in row groups; a few row groups are in
  flight (reading, assembling, writing), whatever the plate size;
* **fast** — for SQLite, the three compartment tables are read concurrently by
  ADBC's SQLite driver (Arrow batches built in C, no GIL), each reading only the
  rowids of the current row group, while the previous row group is written by
  pyarrow in another thread;
* **deterministic** — the same input gives byte-identical output whatever the
  thread count or memory limit (row groups are cut at fixed row counts;
  row group ``k`` holds output rows ``k*row_group_size ...``);
* **atomic** — written under a temporary name next to ``dest`` and renamed at
  the end; a failure (bad input, orphans, interrupt) leaves no partial file and
  keeps an existing ``dest``. Join problems are found before anything is
  written.

Examples
--------
>>> import tempfile, pathlib
>>> from cytoplan.testing.synthetic import PlateSpec, write_sqlite
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> src = write_sqlite(PlateSpec("P1", wells=2, sites_per_well=1), folder / "P1.sqlite")
>>> report = convert(src, folder / "P1.parquet", progress=False)
>>> report.rows, report.columns
(16, 110)
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from cytoplan.config import parse_bytes, settings
from cytoplan.exceptions import ParameterError, SourceError
from cytoplan.io._atomic import atomic_path, is_remote
from cytoplan.io._sqlite_catalog import SQLITE_HEADER
from cytoplan.io.cellprofiler import LinkSpec
from cytoplan.io.sinks import check_destination, sink_row_group_size

if TYPE_CHECKING:
    import pyarrow as pa

    from cytoplan._typing import StorageOptions

__all__ = [
    "METADATA_BYTES_PER_CHUNK",
    "ConvertReport",
    "SourceKind",
    "convert",
    "default_row_group_size",
    "source_kind",
]

SourceKind = Literal["sqlite", "csv-folders", "profiles"]
ParquetCompression = Literal["snappy", "zstd", "lz4", "gzip", "brotli", "none"]

#: Uncompressed bytes aimed at per row group (a few are in memory at once).
_ROW_GROUP_BYTES = 96 << 20
#: Memory Polars keeps per column chunk of a Parquet file it has scanned (its parsed
#: footer), measured 460–660 bytes by ``benchmarks/parquet_metadata.py``.
METADATA_BYTES_PER_CHUNK = 550


@dataclass(frozen=True)
class ConvertReport:
    """What :func:`convert` did.

    Attributes
    ----------
    source, dest : str
    kind : {"sqlite", "csv-folders", "profiles"}
    rows, columns : int
        Shape of the table written (``rows`` is -1 for CSV/TSV output, not counted).
    row_groups : int
    bytes : int
        Size of the Parquet file.
    seconds : float
        Wall time.
    table_rows : dict
        Rows of each input table (CellProfiler sources).
    dropped : dict
        Hub rows dropped for lack of a parent, per parent compartment
        (only with ``LinkSpec(orphans="drop")``).
    unreferenced : dict
        Rows of each compartment that no output row uses (e.g. cells without
        cytoplasm; pycytominer drops them too).
    missing_image : int
        Output rows whose image row is missing (null image columns).
    """

    source: str
    dest: str
    kind: SourceKind
    rows: int
    columns: int
    row_groups: int
    bytes: int
    seconds: float
    table_rows: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    unreferenced: dict[str, int] = field(default_factory=dict)
    missing_image: int = 0

    @property
    def metadata_bytes(self) -> int:
        """Memory a later scan of the file holds for its footer (Polars keeps it).

        About 550 bytes per column chunk, one per row group and column, whatever the
        data size (``benchmarks/parquet_metadata.py``: 460–660 bytes).

        >>> report = ConvertReport("a", "b", "profiles", 1_000_000, 6_000, 489, 0, 0.0)
        >>> round(report.metadata_bytes / 2**30, 2)
        1.5
        """
        return self.row_groups * self.columns * METADATA_BYTES_PER_CHUNK

    def rows_per_group_for(self, metadata_budget: int) -> int:
        """Rows per row group that keep :attr:`metadata_bytes` within ``metadata_budget``
        (a multiple of 1,024).

        >>> report = ConvertReport("a", "b", "profiles", 1_000_000, 6_000, 489, 0, 0.0)
        >>> report.rows_per_group_for(256 * 2**20)
        13312
        """
        per_group = self.columns * METADATA_BYTES_PER_CHUNK
        groups = max(1, metadata_budget // max(1, per_group))
        rows = -(-max(self.rows, 1) // groups)
        return int(-(-rows // 1024) * 1024)


def source_kind(src: str | Path) -> SourceKind:
    """``"sqlite"`` (by file header or name), ``"csv-folders"`` or ``"profiles"``.

    >>> source_kind("s3://bucket/plate.sqlite"), source_kind("s3://bucket/plate.parquet")
    ('sqlite', 'profiles')
    """
    text = str(src)
    lowered = text.lower()
    if is_remote(text):
        return "sqlite" if lowered.endswith((".sqlite", ".db", ".sqlite3")) else "profiles"
    path = Path(text)
    if not path.exists():
        msg = f"input not found: {text!r}"
        raise SourceError(msg)
    if path.is_dir():
        from cytoplan.io.csv_folder import find_site_folders

        try:
            find_site_folders(path)
        except SourceError:
            return "profiles"  # a Parquet dataset folder
        return "csv-folders"
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    if head == SQLITE_HEADER or lowered.endswith((".sqlite", ".db", ".sqlite3")):
        return "sqlite"
    return "profiles"


def default_row_group_size(n_columns: int) -> int:
    """Rows per row group: ~96 MiB of float64 values, a multiple of 1,024 (1,024–65,536).

    >>> default_row_group_size(3000), default_row_group_size(110)
    (4096, 65536)
    """
    return sink_row_group_size(n_columns, _ROW_GROUP_BYTES)


def _progress(total: int | None, label: str, *, enabled: bool | None) -> Any:
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rows", unit_scale=True, desc=label, leave=False)


def _arrow_schema(schema: pl.Schema) -> pa.Schema:
    return pl.DataFrame(schema=schema).to_arrow(compat_level=pl.CompatLevel.oldest()).schema


class _ParquetSink:
    """Writes row groups of exactly ``row_group_size`` rows from frames of any height.

    Writing happens in a background thread (pyarrow releases the GIL), so the
    caller can assemble the next row group meanwhile.
    """

    def __init__(
        self,
        path: Path,
        schema: pl.Schema,
        *,
        row_group_size: int,
        compression: str,
        bar: Any,
    ) -> None:
        import pyarrow.parquet as pq

        self.schema = _arrow_schema(schema)
        strings = [name for name, dtype in schema.items() if dtype == pl.String]
        self.writer = pq.ParquetWriter(
            path,
            self.schema,
            compression=None if compression == "none" else compression,
            use_dictionary=strings or False,
            # min/max of float features cost ~1/3 of the write and rarely prune anything
            write_statistics=strings or False,
        )
        self.row_group_size = row_group_size
        self.bar = bar
        self.pending: list[pl.DataFrame] = []
        self.pending_rows = 0
        self.rows = 0
        self.row_groups = 0
        self.queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="cytoplan-parquet", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        try:
            while True:
                table = self.queue.get()
                if table is None:
                    return
                self.writer.write_table(table, row_group_size=table.num_rows)
                if self.bar is not None:
                    self.bar.update(table.num_rows)
        except BaseException as err:  # handed to the caller
            self.error = err
            while self.queue.get() is not None:
                pass

    def _send(self, frame: pl.DataFrame) -> None:
        if self.error is not None:
            raise self.error
        table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
        if table.schema != self.schema:
            table = table.cast(self.schema)
        self.queue.put(table)
        self.rows += frame.height
        self.row_groups += 1

    def add(self, frame: pl.DataFrame) -> None:
        """Queue rows; full row groups are written as they fill."""
        if not frame.height:
            return
        size = self.row_group_size
        if not self.pending and frame.height == size:
            self._send(frame)
            return
        self.pending.append(frame)
        self.pending_rows += frame.height
        while self.pending_rows >= size:
            merged = pl.concat(self.pending, how="vertical", rechunk=False)
            self._send(merged.slice(0, size).rechunk())
            rest = merged.slice(size)
            self.pending = [rest] if rest.height else []
            self.pending_rows = rest.height

    def close(self, *, ok: bool) -> None:
        """Write the last (partial) row group and the footer; on failure just stop."""
        try:
            if ok and self.pending_rows:
                merged = pl.concat(self.pending, how="vertical", rechunk=True)
                self._send(merged)
            self.queue.put(None)
            self.thread.join()
            if ok and self.error is not None:
                raise self.error
        finally:
            self.writer.close()


def _memory(memory_limit: str | int | None) -> int:
    if memory_limit is None:
        return settings().memory_limit
    return parse_bytes(memory_limit)


def convert(
    src: str | Path,
    dest: str | Path,
    *,
    link: LinkSpec | None = None,
    memory_limit: str | int | None = None,
    row_group_size: int | None = None,
    compression: ParquetCompression = "snappy",
    progress: bool | None = None,
    columns: Sequence[str] | None = None,
    storage_options: StorageOptions | None = None,
) -> ConvertReport:
    """Write the single cells of ``src`` to the Parquet file ``dest``.

    Parameters
    ----------
    src : str or Path
        A CellProfiler SQLite file (cytominer-database or ExportToDatabase
        layout; a URL is downloaded first), a folder of CellProfiler CSV site
        folders, or a profile table (``.parquet``, ``.csv``, ``.tsv``, gzipped
        text too), which is copied by streaming.
    dest : str or Path
        Output ``.parquet`` file (its folder must exist), or a URL (``s3://...``:
        converted to a local temporary file, then uploaded atomically with
        :func:`cytoplan.io.remote.upload_file`). A ``.csv``/``.tsv``
        name writes text through :func:`~cytoplan.io.sinks.write_profiles`.
    link : LinkSpec, optional
        How CellProfiler tables link (pycytominer's defaults).
    memory_limit : str or int, optional
        Memory budget (default ``CYTOPLAN_MEMORY_LIMIT`` or 2 GiB); sets how many
        row groups are read ahead. It never changes the output bytes.
    row_group_size : int, optional
        Rows per row group; default ~96 MiB of values per group
        (:func:`default_row_group_size`; 4,096 rows for 3,000 columns).
    compression : {"snappy", "zstd", "lz4", "gzip", "brotli", "none"}
        Parquet codec (snappy, as pycytominer writes, is the fastest here).
    progress : bool, optional
        Show a progress bar; default: when stderr is a terminal.
    columns : sequence of str, optional
        Write only these output columns.
    storage_options : dict, optional
        fsspec/object-store options for a remote ``src``.

    Returns
    -------
    ConvertReport

    Raises
    ------
    SourceError, ColumnNotFoundError, JoinError, SchemaError
        Bad input (nothing is written, an existing ``dest`` is kept).
    ParameterError
        ``dest`` of no known format, a CellProfiler ``src`` as its own ``dest``, a
        ``row_group_size`` below 1 (checked before anything is read or written).
    """
    started = time.perf_counter()
    kind = source_kind(src)
    _check_options(src, dest, kind, row_group_size)
    spec = link if link is not None else LinkSpec()
    if str(dest).lower().endswith((".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")):
        return _convert_text(src, dest, kind, spec, columns, storage_options, started)
    if is_remote(dest):  # convert to a local temporary file, then upload it atomically
        import dataclasses
        import tempfile

        from cytoplan.io.remote import upload_file

        with tempfile.TemporaryDirectory(dir=settings().temp_dir) as folder:
            local = Path(folder) / str(dest).rstrip("/").rsplit("/", 1)[-1]
            report = convert(
                src, local, link=link, memory_limit=memory_limit, row_group_size=row_group_size,
                compression=compression, progress=progress, columns=columns,
                storage_options=storage_options,
            )  # fmt: skip
            upload_file(local, str(dest), storage_options)
        return dataclasses.replace(report, dest=str(dest))
    if kind == "profiles":
        return _convert_profiles(
            src, dest, columns, storage_options, row_group_size, compression, started
        )
    budget = _memory(memory_limit)
    if kind == "sqlite":
        return _convert_sqlite(
            src, dest, spec, columns, storage_options, budget, row_group_size, compression,
            progress=progress, started=started,
        )  # fmt: skip
    return _convert_csv(
        src, dest, spec, columns, row_group_size, compression, progress=progress, started=started
    )


def _check_options(
    src: str | Path, dest: str | Path, kind: SourceKind, row_group_size: int | None
) -> None:
    check_destination(dest)
    if kind != "profiles" and _same_local_file(src, dest):
        msg = (
            f"convert would write over its input {str(src)!r}; give the Parquet output its own name"
        )
        raise ParameterError(msg)
    if row_group_size is not None and (
        isinstance(row_group_size, bool)
        or not isinstance(row_group_size, int)
        or row_group_size < 1
    ):
        msg = f"row_group_size must be a whole number of rows >= 1, got {row_group_size!r}"
        raise ParameterError(msg)


def _same_local_file(src: str | Path, dest: str | Path) -> bool:
    if is_remote(src) or is_remote(dest):
        return str(src) == str(dest)
    return Path(src).resolve() == Path(dest).resolve()


def _finish(
    src: str | Path,
    dest: str | Path,
    kind: SourceKind,
    rows: int,
    n_columns: int,
    row_groups: int,
    started: float,
    **extra: Any,
) -> ConvertReport:
    return ConvertReport(
        source=str(src),
        dest=str(dest),
        kind=kind,
        rows=rows,
        columns=n_columns,
        row_groups=row_groups,
        bytes=Path(dest).stat().st_size,
        seconds=time.perf_counter() - started,
        **extra,
    )


def _convert_sqlite(
    src: str | Path,
    dest: str | Path,
    spec: LinkSpec,
    columns: Sequence[str] | None,
    storage_options: StorageOptions | None,
    budget: int,
    row_group_size: int | None,
    compression: str,
    *,
    progress: bool | None,
    started: float,
) -> ConvertReport:
    from cytoplan.io._sqlite_plate import SqlitePlate
    from cytoplan.io.sqlite import fetch_remote

    source = fetch_remote(str(src), storage_options) if is_remote(src) else Path(src)
    plate = SqlitePlate(source, spec)
    selected = plate.layout.select(list(columns) if columns is not None else None)
    plan = plate.plan()  # join problems surface here, before any file is created
    size = row_group_size or default_row_group_size(len(selected))
    group_bytes = size * 8 * len(selected)
    # in flight: per table `prefetch` slices, one being assembled, one queued, one written
    prefetch = 2 if budget >= 8 * group_bytes else 1
    schema = pl.Schema({c.name: c.dtype for c in selected})
    bar = _progress(plan.rows, Path(str(src)).name, enabled=progress)
    try:
        with atomic_path(dest) as tmp:
            sink = _ParquetSink(tmp, schema, row_group_size=size, compression=compression, bar=bar)
            ok = False
            try:
                for frame in plate.stream(selected, plan.frame, chunk_rows=size, prefetch=prefetch):
                    sink.add(frame)
                ok = True
            finally:
                sink.close(ok=ok)
    finally:
        if bar is not None:
            bar.close()
    return _finish(
        src, dest, "sqlite", sink.rows, len(selected), sink.row_groups, started,
        table_rows={k: v for k, v in plan.table_rows.items()},
        dropped=dict(plan.dropped),
        unreferenced=dict(plan.unreferenced),
        missing_image=plan.missing_image,
    )  # fmt: skip


def _batches(frame: pl.LazyFrame, rows: int) -> Iterator[pl.DataFrame]:
    yield from frame.collect_batches(chunk_size=rows)


def _convert_csv(
    src: str | Path,
    dest: str | Path,
    spec: LinkSpec,
    columns: Sequence[str] | None,
    row_group_size: int | None,
    compression: str,
    *,
    progress: bool | None,
    started: float,
) -> ConvertReport:
    from cytoplan.io.csv_folder import scan_cellprofiler_csv

    frame = scan_cellprofiler_csv(src, link=spec, columns=columns)
    schema = frame.collect_schema()
    size = row_group_size or default_row_group_size(len(schema))
    bar = _progress(None, Path(str(src)).name, enabled=progress)
    try:
        with atomic_path(dest) as tmp:
            sink = _ParquetSink(tmp, schema, row_group_size=size, compression=compression, bar=bar)
            ok = False
            try:
                for batch in _batches(frame, size):
                    sink.add(batch)
                ok = True
            finally:
                sink.close(ok=ok)
    finally:
        if bar is not None:
            bar.close()
    return _finish(src, dest, "csv-folders", sink.rows, len(schema), sink.row_groups, started)


def _convert_profiles(
    src: str | Path,
    dest: str | Path,
    columns: Sequence[str] | None,
    storage_options: StorageOptions | None,
    row_group_size: int | None,
    compression: str,
    started: float,
) -> ConvertReport:
    from cytoplan.io.profiles import scan_profiles
    from cytoplan.io.sinks import write_profiles

    frame = scan_profiles(src, storage_options=storage_options)
    if columns is not None:
        frame = frame.select(list(columns))
    schema = frame.collect_schema()
    size = row_group_size or default_row_group_size(len(schema))
    codec = "uncompressed" if compression == "none" else compression
    write_profiles(frame, dest, format="parquet", compression=codec, row_group_size=size)
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(dest).metadata
    return _finish(
        src, dest, "profiles", meta.num_rows, meta.num_columns, meta.num_row_groups, started
    )


def _convert_text(
    src: str | Path,
    dest: str | Path,
    kind: SourceKind,
    spec: LinkSpec,
    columns: Sequence[str] | None,
    storage_options: StorageOptions | None,
    started: float,
) -> ConvertReport:
    from cytoplan.io.sinks import write_profiles

    frame: pl.LazyFrame
    if kind == "sqlite":
        from cytoplan.io.sqlite import scan_cellprofiler_sqlite

        frame = scan_cellprofiler_sqlite(
            src, link=spec, columns=columns, storage_options=storage_options
        )
    elif kind == "csv-folders":
        from cytoplan.io.csv_folder import scan_cellprofiler_csv

        frame = scan_cellprofiler_csv(src, link=spec, columns=columns)
    else:
        from cytoplan.io.profiles import scan_profiles

        frame = scan_profiles(src, storage_options=storage_options)
        if columns is not None:
            frame = frame.select(list(columns))
    write_profiles(frame, dest)
    width = len(frame.collect_schema())
    return ConvertReport(
        source=str(src),
        dest=str(dest),
        kind=kind,
        rows=-1,
        columns=width,
        row_groups=0,
        bytes=Path(dest).stat().st_size,
        seconds=time.perf_counter() - started,
    )
