"""Merge the object tables of one CellProfiler SQLite file, streaming in row batches.

Two phases:

1. **Plan** (:meth:`SqlitePlate.plan`): read only the key columns of every table
   (rowid, merge keys, linking columns; a few percent of the file's decoding
   work), the three compartment tables in parallel, and join them with
   :func:`~cytoplan.io.cellprofiler.plan_join`. The plan says which rowid of each
   table makes each output row, in pycytominer's order (hub-table order).
2. **Stream** (:meth:`SqlitePlate.stream`): cut the plan into slices of rows; for
   every slice, one thread per table reads just the rows it needs
   (``WHERE rowid BETWEEN a AND b`` when they are nearly contiguous, which is the
   case for CellProfiler and cytominer-database files because objects are
   written image by image; ``WHERE rowid IN (...)`` otherwise), while the
   consumer assembles the previous slice. Memory holds a bounded number of
   slices, whatever the plate size, and no ``ORDER BY`` sort is ever needed.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from cytoplan.exceptions import SourceError
from cytoplan.io._sqlite_catalog import check_sqlite_file, quote, read_catalogue, read_only_uri
from cytoplan.io._sqlite_fetch import ColumnRead, TableReader, Target
from cytoplan.io.cellprofiler import (
    IMAGE,
    IMG,
    RID,
    JoinPlan,
    LinkSpec,
    OutputColumn,
    assemble,
    gather_index,
    link_key,
    merge_key,
    plan_join,
    resolve_layout,
    rid_column,
    take,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = ["SqlitePlate", "rid_filter", "target_of"]

_BOUND_LIMIT = 1 << 24
#: Reads of at least this many columns memory-map the file (see ``_sqlite_fetch``).
_MMAP_COLUMNS = 32
#: Reads of at least this many Float64 columns decode records from the file's pages.
_FAST_COLUMNS = 32


def _decoder_enabled() -> bool:
    """The page decoder is on unless ``CYTOPLAN_SQLITE_DECODER=0`` (then all reads use SQL)."""
    return os.environ.get("CYTOPLAN_SQLITE_DECODER", "1") != "0"


def target_of(column: OutputColumn) -> Target:
    """How to read an output column, from its output type."""
    if column.dtype == pl.String:
        return "string"
    if column.dtype == pl.Int64:
        return "int"
    return "float"


def rid_filter(rowid: str, rids: np.ndarray) -> tuple[str, int]:
    """SQL that selects the sorted unique ``rids``, and a bound on the rows it returns."""
    lo, hi = int(rids[0]), int(rids[-1])
    span = hi - lo + 1
    if span <= 2 * rids.size + 64:
        return f"WHERE {rowid} BETWEEN {lo} AND {hi} ORDER BY {rowid}", span
    listed = ",".join(str(int(r)) for r in rids)
    return f"WHERE {rowid} IN ({listed}) ORDER BY {rowid}", int(rids.size)


@dataclass
class _Failure:
    error: BaseException


class SqlitePlate:
    """One CellProfiler SQLite file, ready to merge (tables and columns checked on creation).

    Parameters
    ----------
    path : str or Path
    spec : LinkSpec
    """

    def __init__(self, path: str | Path, spec: LinkSpec) -> None:
        self.path = check_sqlite_file(path)
        self.where = str(path)
        self.uri = read_only_uri(self.path)
        self.spec = spec
        self.layout = resolve_layout(spec, read_catalogue(self.path), where=self.where)
        for comp, table in self.layout.compartments.items():
            if table.kind == "view":
                msg = (
                    f"{comp!r} resolves to the view {table.name!r} in {self.where}; "
                    "point LinkSpec(tables=...) at the table itself (rows are read by rowid)"
                )
                raise SourceError(msg)
        self._plan: JoinPlan | None = None
        self._image: pl.DataFrame | None = None
        self._lock = threading.Lock()
        self.queries: list[str] = []
        #: slices decoded from the file's pages (not through SQL), per compartment
        self.decoded: dict[str, int] = {}

    # ------------------------------------------------------------------ plan

    def _image_frame(self) -> pl.DataFrame:
        """Merge keys and every image column of the output, one row per image-table row."""
        if self._image is None:
            layout = self.layout
            reads = [
                ColumnRead(name, merge_key(i), "key") for i, name in enumerate(layout.merge_columns)
            ]
            reads += [
                ColumnRead(c.source, c.name, target_of(c))
                for c in layout.columns
                if c.table == IMAGE
            ]
            table = layout.image
            reader = TableReader(self.uri, table, self.where)
            try:
                bound = self._row_bound(reader, table.name)
                frame = reader.read(reads, rows=bound)
            finally:
                reader.close()
            self._image = frame.with_row_index(IMG)
        return self._image

    def _row_bound(self, reader: TableReader, table: str) -> int:
        import sqlite3

        con = sqlite3.connect(self.uri, uri=True)
        try:
            if reader.table.kind == "view":
                (count,) = con.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()
                return max(int(count), 1)
            row = con.execute(
                f"SELECT min({reader.rowid}), max({reader.rowid}) FROM {quote(table)}"
            ).fetchone()
        finally:
            con.close()
        if row[0] is None:
            return 1
        return max(1, min(int(row[1]) - int(row[0]) + 1, _BOUND_LIMIT))

    def _keys(self, compartment: str) -> pl.DataFrame:
        layout = self.layout
        table = layout.compartments[compartment]
        reads = [
            ColumnRead(name, merge_key(i), "key") for i, name in enumerate(layout.merge_columns)
        ]
        reads += [
            ColumnRead(col, link_key(compartment, col), "float")
            for col in layout.link_columns[compartment]
        ]
        reader = TableReader(self.uri, table, self.where)
        try:
            bound = self._row_bound(reader, table.name)
            frame = reader.read(reads, rows=bound, rid=RID, where_sql=f"ORDER BY {reader.rowid}")
        finally:
            reader.close()
        return frame

    def plan(self) -> JoinPlan:
        """The join plan (computed once: the key columns are read in parallel)."""
        with self._lock:
            if self._plan is None:
                comps = list(self.layout.compartments)
                with ThreadPoolExecutor(max_workers=len(comps) + 1) as pool:
                    image = pool.submit(self._image_frame)
                    futures = {comp: pool.submit(self._keys, comp) for comp in comps}
                    keys = {comp: future.result() for comp, future in futures.items()}
                    keys[IMAGE] = image.result().select(
                        IMG, *[merge_key(i) for i in range(len(self.layout.merge_columns))]
                    )
                self._plan = plan_join(self.layout, keys, self.spec.orphans)
        return self._plan

    def image_columns(self, columns: Sequence[OutputColumn]) -> pl.DataFrame:
        """The image-table output columns among ``columns``, by image-table row."""
        names = [c.name for c in columns if c.table == IMAGE]
        return self._image_frame().select(names)

    # ------------------------------------------------------------------ stream

    def stream(
        self,
        columns: Sequence[OutputColumn],
        plan: pl.DataFrame,
        *,
        chunk_rows: int,
        prefetch: int = 2,
    ) -> Iterator[pl.DataFrame]:
        """Yield the output rows of ``plan`` in slices of ``chunk_rows`` rows.

        Parameters
        ----------
        columns : sequence of OutputColumn
            What to produce (only the tables these come from are read).
        plan : DataFrame
            :attr:`JoinPlan.frame`, or a subset of its rows.
        chunk_rows : int
        prefetch : int
            Slices each table reader may read ahead of the consumer.
        """
        reads: dict[str, list[ColumnRead]] = {}
        for column in columns:
            if column.table != IMAGE:
                reads.setdefault(column.table, []).append(
                    ColumnRead(column.source, column.name, target_of(column))
                )
        image = self.image_columns(columns)
        bounds = [
            (start, min(start + chunk_rows, plan.height))
            for start in range(0, plan.height, max(1, chunk_rows))
        ]
        stop = threading.Event()
        queues: dict[str, queue.Queue[pl.DataFrame | _Failure]] = {
            comp: queue.Queue(maxsize=max(1, prefetch)) for comp in reads
        }

        def put(q: queue.Queue[pl.DataFrame | _Failure], item: pl.DataFrame | _Failure) -> None:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                except queue.Full:
                    continue
                return

        def work(comp: str) -> None:
            import numpy as np

            from cytoplan.io._sqlite_records import open_record_reader

            table = self.layout.compartments[comp]
            wide = [r for r in reads[comp] if r.target == "float"]
            narrow = [r for r in reads[comp] if r.target != "float"]
            use_fast = (
                len(wide) >= _FAST_COLUMNS and os.environ.get("CYTOPLAN_SQLITE_DECODER") != "0"
            )
            fast = open_record_reader(self.path, table) if use_fast else None
            mmap = self.path.stat().st_size if len(reads[comp]) >= _MMAP_COLUMNS else 0
            reader = TableReader(self.uri, table, self.where, mmap_bytes=mmap)
            small = TableReader(self.uri, table, self.where)
            rid = rid_column(comp)
            try:
                for start, end in bounds:
                    if stop.is_set():
                        return
                    ordered = plan.get_column(rid).slice(start, end - start).to_numpy()
                    rids = np.unique(ordered)
                    where, bound = rid_filter(reader.rowid, rids)
                    piece = None
                    if fast is not None:
                        # decoded straight into plan order: no gather when assembling
                        sources, names = [r.source for r in wide], [r.name for r in wide]
                        piece = fast.read(ordered, sources, names, RID)
                        self.decoded[comp] = self.decoded.get(comp, 0) + (piece is not None)
                    if piece is None:
                        piece = reader.read(reads[comp], rows=bound, where_sql=where, rid=RID)
                    elif narrow:
                        rest = small.read(narrow, rows=bound, where_sql=where, rid=RID)
                        index = gather_index(rest.get_column(RID).to_numpy(), ordered)
                        piece = piece.hstack(take(rest.drop(RID), index))
                    put(queues[comp], piece)
            except BaseException as err:  # handed to the consumer
                put(queues[comp], _Failure(err))
            finally:
                self.queries.append(reader.last_sql)
                reader.close()
                small.close()

        threads = [
            threading.Thread(target=work, args=(comp,), name=f"cytoplan-read-{comp}", daemon=True)
            for comp in reads
        ]
        for thread in threads:
            thread.start()
        try:
            for start, end in bounds:
                pieces: dict[str, pl.DataFrame] = {}
                for comp in reads:
                    item = queues[comp].get()
                    if isinstance(item, _Failure):
                        raise item.error
                    pieces[comp] = item
                yield assemble(plan.slice(start, end - start), pieces, image, columns)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
