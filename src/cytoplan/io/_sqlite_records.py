"""Decode numeric columns of a SQLite rowid table straight from the file's pages, with NumPy.

CellProfiler object tables are wide (1,000-2,000 REAL columns per row). Every
SQL reader pays a per-value cost on top of SQLite's own decoding; for ADBC's
driver it is about as large as the decoding itself (an API call and a mutex per
value, Arrow validity bits set one at a time). This module reads the database
file as documented in https://www.sqlite.org/fileformat2.html and decodes whole
row slices at once:

1. **Leaf map** (once per table): the interior pages of the table's B-tree give
   every leaf page, in rowid order, and the largest rowid it may hold (a few
   hundred pages are read; leaves are not).
2. **Cells** (per batch of rows): the leaf pages of the batch's rowids are read
   with a few large ``pread`` calls (rows are stored image by image, so their
   leaf and overflow pages are nearly contiguous); their cell pointer arrays give
   each row's rowid, payload size and payload position.
3. **Records**: each row's payload (local part plus its chain of overflow pages)
   is copied into one fixed-width byte matrix.
4. **Values**: the record headers' serial types give each value's size and
   offset (a cumulative sum over columns); the requested columns are gathered
   as 8-byte windows and decoded as big-endian doubles or integers, NULL → NaN
   (SQLite stores no NaN, so NaN → null afterwards is exact); TEXT values in a
   REAL column are parsed like the ADBC path does (``'nan'`` → null, ``'inf'``).

Anything the fast path does not handle — a file changed since it was opened
(its header's change counter moved), a WAL file with frames, a hot journal,
UTF-16 text, records shorter or longer than the table (``ALTER TABLE ADD
COLUMN``), multi-byte serial types, BLOBs, an ``INTEGER PRIMARY KEY`` column,
``WITHOUT ROWID`` tables — makes :meth:`RecordReader.read` return ``None`` (or
:func:`open_record_reader` return ``None``), and the caller reads that slice
through SQL instead. Tests compare both paths value by value.

Pages are read with ``pread`` (never memory-mapped), so the file's pages are
never counted in the process' resident memory.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from cytoplan.io._sqlite_fetch import parse_float_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

    from cytoplan.io.cellprofiler import TableInfo

__all__ = ["RecordReader", "open_record_reader"]

_LEAF_TABLE = 13
_INTERIOR_TABLE = 5
#: Bytes of a value for serial types 0..11 (10 and 11 are reserved).
_FIXED = np.array([0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0], dtype=np.int64)


def _size_lut() -> NDArray[np.int64]:
    lut = np.zeros(128, dtype=np.int64)
    lut[:12] = _FIXED
    codes = np.arange(12, 128)
    lut[12:] = np.where(codes % 2 == 0, (codes - 12) // 2, (codes - 13) // 2)
    return lut


_SIZES = _size_lut()
_SIZES32 = _SIZES.astype(np.int32)
#: Right shift that turns the 8 bytes at an integer value into it (sign-extended).
_SHIFT = np.zeros(128, dtype=np.int64)
_SHIFT[1:7] = 64 - 8 * _FIXED[1:7]
#: Values of serial types that carry no bytes: NULL → NaN (null later), 8 → 0, 9 → 1.
_CONSTANT = np.full(128, np.nan)
_CONSTANT[8] = 0.0
_CONSTANT[9] = 1.0


class _Unsupported(Exception):
    """The fast path cannot read this (the caller falls back to SQL)."""


def _be(data: NDArray[np.uint8]) -> NDArray[np.int64]:
    """Big-endian unsigned integers from the rows of a (n, k) byte matrix."""
    out = np.zeros(data.shape[0], dtype=np.int64)
    for k in range(data.shape[1]):
        out = (out << 8) | data[:, k].astype(np.int64)
    return out


def _varints(
    buf: NDArray[np.uint8], pos: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Decode varints (at most 4 bytes, values < 2**28) at ``pos``: (values, lengths)."""
    window = buf[pos[:, None] + np.arange(4)]
    value = np.zeros(pos.size, dtype=np.int64)
    length = np.zeros(pos.size, dtype=np.int64)
    done = np.zeros(pos.size, dtype=bool)
    for k in range(4):
        byte = window[:, k].astype(np.int64)
        active = ~done
        value = np.where(active, (value << 7) | (byte & 0x7F), value)
        ends = active & (byte < 0x80)
        length[ends] = k + 1
        done |= ends
    if not done.all():
        msg = "varint longer than 4 bytes"
        raise _Unsupported(msg)
    return value, length


@dataclass(frozen=True)
class _Geometry:
    page_size: int
    usable: int
    #: the header's file change counter when the reader was opened
    change_counter: bytes = b""

    @property
    def max_local(self) -> int:
        return self.usable - 35

    @property
    def min_local(self) -> int:
        return (self.usable - 12) * 32 // 255 - 23

    def local_size(self, payload: NDArray[np.int64]) -> NDArray[np.int64]:
        """Bytes of each payload stored on the leaf page (the rest is on overflow pages)."""
        x, m, u = self.max_local, self.min_local, self.usable
        k = m + (payload - m) % (u - 4)
        spilled = np.where(k <= x, k, m)
        return np.where(payload <= x, payload, spilled)


def _geometry(path: Path) -> _Geometry:
    with path.open("rb") as handle:
        head = handle.read(100)
    if len(head) < 100:
        msg = "short header"
        raise _Unsupported(msg)
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    reserved = head[20]
    encoding = int.from_bytes(head[56:60], "big")
    if encoding not in (0, 1):
        msg = "text is not UTF-8"
        raise _Unsupported(msg)
    wal = Path(f"{path}-wal")
    journal = Path(f"{path}-journal")
    if (wal.exists() and wal.stat().st_size > 0) or (
        journal.exists() and journal.stat().st_size > 0
    ):
        msg = "the database has a WAL file or a hot journal"
        raise _Unsupported(msg)
    return _Geometry(page_size=page_size, usable=page_size - reserved, change_counter=head[24:28])


def _page_kind(fd: int, number: int, page_size: int) -> tuple[int, bytes]:
    data = os.pread(fd, page_size, (number - 1) * page_size)
    if len(data) != page_size:
        msg = f"page {number} is beyond the end of the file"
        raise _Unsupported(msg)
    return data[100 if number == 1 else 0], data


def _leaf_map(fd: int, root: int, page_size: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Leaf pages of a table B-tree in key order, with the largest rowid each may hold.

    Only interior pages are read (a few hundred for a plate's table): all leaves of
    a B-tree are at the same depth, so the first child of an interior page tells
    whether its children are leaves.
    """
    leaves: list[NDArray[np.int64]] = []
    upper: list[NDArray[np.int64]] = []
    kind, data = _page_kind(fd, root, page_size)
    if kind == _LEAF_TABLE:
        return np.asarray([root], dtype=np.int64), np.asarray([2**63 - 1], dtype=np.int64)
    stack: list[tuple[int, int, bytes]] = [(root, 2**63 - 1, data)]
    while stack:
        number, bound, data = stack.pop()
        page = np.frombuffer(data, dtype=np.uint8)
        base = 100 if number == 1 else 0
        if page[base] != _INTERIOR_TABLE:
            msg = f"page {number} is not a table B-tree page (type {int(page[base])})"
            raise _Unsupported(msg)
        cells = int(page[base + 3]) << 8 | int(page[base + 4])
        right = int.from_bytes(data[base + 8 : base + 12], "big")
        offsets = _be(page[base + 12 : base + 12 + 2 * cells].reshape(-1, 2))
        children = np.append(_be(page[offsets[:, None] + np.arange(4)]), right)
        keys, _ = _varints(np.concatenate([page, np.zeros(16, np.uint8)]), offsets + 4)
        # a child holds rowids up to its key; the right-most one up to the parent's bound
        bounds = np.append(keys, bound)
        child_kind, child_data = _page_kind(fd, int(children[0]), page_size)
        if child_kind == _LEAF_TABLE:
            leaves.append(children)
            upper.append(bounds)
            continue
        pending = []
        for i, child in enumerate(children.tolist()):
            kind_i, data_i = (
                (child_kind, child_data) if i == 0 else _page_kind(fd, child, page_size)
            )
            if kind_i != _INTERIOR_TABLE:
                msg = f"page {child} is not an interior table page (unbalanced tree?)"
                raise _Unsupported(msg)
            pending.append((child, int(bounds[i]), data_i))
        stack.extend(reversed(pending))  # visit left to right
    return np.concatenate(leaves), np.concatenate(upper)


#: Rows decoded at once (temporaries hold ~40 bytes per value).
_DECODE_ROWS = 2048


class _PageCache:
    """Pages read in runs of consecutive page numbers with one ``pread`` per run.

    A ``pread`` releases the GIL; one per page (millions per plate) makes the
    reader threads hand the GIL back and forth. Runs keep that to a few calls
    per batch of rows (rows are stored image by image, so their pages are
    nearly contiguous).
    """

    #: Gaps up to this many pages are read through rather than split into two runs.
    GAP = 16

    def __init__(self, fd: int, page_size: int) -> None:
        self.fd = fd
        self.page_size = page_size
        self.blocks: list[tuple[int, int, bytes]] = []  # (first page, last page, data)
        self.firsts: list[int] = []

    def load(self, numbers: NDArray[np.int64]) -> None:
        """Read every page in ``numbers`` (and small gaps between them)."""
        if not numbers.size:
            return
        pages = np.unique(numbers)
        breaks = np.flatnonzero(np.diff(pages) > self.GAP) + 1
        ps = self.page_size
        for run in np.split(pages, breaks):
            first, last = int(run[0]), int(run[-1])
            size = (last - first + 1) * ps
            data = os.pread(self.fd, size, (first - 1) * ps)
            if len(data) != size:
                msg = "a page is beyond the end of the file"
                raise _Unsupported(msg)
            self.blocks.append((first, last, data))
        self.blocks.sort()
        self.firsts = [b[0] for b in self.blocks]

    def matrix(self, numbers: NDArray[np.int64]) -> NDArray[np.uint8]:
        """Whole pages as a (len(numbers), page_size) matrix."""
        ps = self.page_size
        data = b"".join(self.get(int(n), 0, ps) for n in numbers.tolist())
        return np.frombuffer(data, dtype=np.uint8).reshape(numbers.size, ps)

    def get(self, number: int, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` in page ``number`` (read on demand if not loaded)."""
        import bisect

        i = bisect.bisect_right(self.firsts, number) - 1
        if i >= 0:
            first, last, data = self.blocks[i]
            if number <= last:
                start = (number - first) * self.page_size + offset
                return data[start : start + length]
        data = os.pread(self.fd, length, (number - 1) * self.page_size + offset)
        if len(data) != length:
            msg = "a page is beyond the end of the file"
            raise _Unsupported(msg)
        return data


def _cells(
    pages: NDArray[np.uint8], numbers: NDArray[np.int64], page_size: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Rowid, payload size and payload file offset of every cell of some leaf pages."""
    ps = page_size
    flat = np.concatenate([pages.reshape(-1), np.zeros(16, dtype=np.uint8)])
    base = np.arange(numbers.size, dtype=np.int64) * ps + np.where(numbers == 1, 100, 0)
    if (flat[base] != _LEAF_TABLE).any():
        msg = "a page of the table changed type (the file is being written?)"
        raise _Unsupported(msg)
    counts = _be(flat[base[:, None] + np.array([3, 4])])
    owner = np.repeat(np.arange(numbers.size), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.arange(int(counts.sum())) - first
    cell = _be(flat[(base[owner] + 8 + 2 * k)[:, None] + np.arange(2)])
    cell += owner * ps  # offset in ``flat``
    payload, n1 = _varints(flat, cell)
    rowid, n2 = _varints(flat, cell + n1)
    start = (numbers[owner] - 1) * ps + (cell - owner * ps) + n1 + n2
    return rowid, payload, start


def _records(
    cache: _PageCache, payload: NDArray[np.int64], start: NDArray[np.int64], geometry: _Geometry
) -> tuple[NDArray[np.uint8], int]:
    """The payloads of some rows as a (rows, width) byte matrix (zero padded).

    The local part of each payload comes from its leaf page, the rest from the
    chain of overflow pages (read from ``cache``; pages outside it are read on
    demand).
    """
    local = geometry.local_size(payload)
    width = int(payload.max()) + 8
    ps, chunk = geometry.page_size, geometry.usable - 4
    parts: list[bytes] = []
    for p, s, loc in zip(payload.tolist(), start.tolist(), local.tolist(), strict=True):
        leaf, offset = divmod(s, ps)
        remaining = p - loc
        if not remaining:
            parts.append(cache.get(leaf + 1, offset, loc))
        else:
            head = cache.get(leaf + 1, offset, loc + 4)
            parts.append(head[:loc])
            page = int.from_bytes(head[loc:], "big")
            while remaining > 0:
                if page == 0:
                    msg = "overflow chain ends early"
                    raise _Unsupported(msg)
                take = min(remaining, chunk)
                block = cache.get(page, 0, take + 4)
                parts.append(block[4:])
                page = int.from_bytes(block[:4], "big")
                remaining -= take
        parts.append(bytes(width - p))
    data = b"".join(parts)
    if len(data) != payload.size * width:
        msg = "short read (file truncated?)"
        raise _Unsupported(msg)
    return np.frombuffer(data, dtype=np.uint8).reshape(payload.size, width), width


class RecordReader:
    """Decodes REAL-like columns of one rowid table from the file (see the module docstring).

    Use :func:`open_record_reader`, which returns ``None`` when the table or the
    file is outside what this reader handles.
    """

    def __init__(self, path: Path, table: TableInfo, root: int, geometry: _Geometry) -> None:
        self.path = path
        self.table = table
        self.root = root
        self.geometry = geometry
        self.n_columns = len(table.columns)
        self._position = {name: i for i, name in enumerate(table.columns)}
        self._leaves: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None
        self._wanted_cache: dict[tuple[str, ...], NDArray[np.int64] | slice] = {}

    def _wanted(self, columns: Sequence[str]) -> NDArray[np.int64] | slice:
        """Positions of ``columns`` in the record (a slice when they are consecutive)."""
        key = tuple(columns)
        cached = self._wanted_cache.get(key)
        if cached is None:
            positions = np.asarray([self._position[c] for c in columns], dtype=np.int64)
            consecutive = positions.size and np.array_equal(
                positions, np.arange(positions[0], positions[0] + positions.size)
            )
            cached = slice(int(positions[0]), int(positions[-1]) + 1) if consecutive else positions
            self._wanted_cache[key] = cached
        return cached

    def _leaf_map(self, fd: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        if self._leaves is None:
            self._leaves = _leaf_map(fd, self.root, self.geometry.page_size)
        return self._leaves

    def read(
        self, rowids: NDArray[np.int64], columns: Sequence[str], names: Sequence[str], rid: str
    ) -> pl.DataFrame | None:
        """Rows ``rowids`` (any order, repeats allowed) of ``columns`` as Float64, or None.

        ``None`` means "read this slice through SQL" (something unusual was found).
        Text that is not a number raises :class:`~cytoplan.exceptions.SchemaError`,
        as the SQL path does.
        """
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if os.pread(fd, 4, 24) != self.geometry.change_counter:
                # the file changed since it was opened: let SQLite (and its locks) read it
                return None
            # decode in small batches: the temporaries are ~40 bytes per value
            frames = [
                self._read(fd, rowids[lo : lo + _DECODE_ROWS], columns, names, rid)
                for lo in range(0, max(rowids.size, 1), _DECODE_ROWS)
            ]
        except _Unsupported:
            return None
        finally:
            os.close(fd)
        return frames[0] if len(frames) == 1 else pl.concat(frames, rechunk=False)

    def _read(
        self,
        fd: int,
        rowids: NDArray[np.int64],
        columns: Sequence[str],
        names: Sequence[str],
        rid: str,
    ) -> pl.DataFrame:
        leaves, upper = self._leaf_map(fd)
        first = int(np.searchsorted(upper, rowids.min(), side="left"))
        last = int(np.searchsorted(upper, rowids.max(), side="left"))
        wanted_leaves = leaves[first : last + 1]
        if wanted_leaves.size > 2 * rowids.size + 64:
            msg = "rows too far apart for a range read"
            raise _Unsupported(msg)
        cache = _PageCache(fd, self.geometry.page_size)
        cache.load(wanted_leaves)
        rowid, payload, start = _cells(
            cache.matrix(wanted_leaves), wanted_leaves, self.geometry.page_size
        )
        pos = np.searchsorted(rowid, rowids)
        if pos.size and (pos.max() >= rowid.size or not np.array_equal(rowid[pos], rowids)):
            msg = "a rowid is missing"
            raise _Unsupported(msg)
        records, width = _records(cache, payload[pos], start[pos], self.geometry)
        n = rowids.size
        header_size, header_len = _varints(records.reshape(-1), np.arange(n) * width)
        if not (np.all(header_len == header_len[0]) and np.all(header_size == header_size[0])):
            msg = "records of different shapes"
            raise _Unsupported(msg)
        h0, hs = int(header_len[0]), int(header_size[0])
        if hs - h0 != self.n_columns:
            msg = "record has another column count than the table (multi-byte serial types?)"
            raise _Unsupported(msg)
        serial = records[:, h0:hs]
        if (serial >= 0x80).any():
            msg = "multi-byte serial type"
            raise _Unsupported(msg)
        index_type = np.int32 if n * width < 2**31 else np.int64
        sizes = _SIZES32[serial]
        starts: NDArray[np.integer] = np.cumsum(sizes, axis=1, dtype=index_type)
        starts -= sizes
        del sizes
        wanted = self._wanted(columns)
        # row-major work (offsets increase along memory: cache friendly), one transpose at the end
        st: NDArray[np.uint8] = serial[:, wanted]
        where: NDArray[np.int64] = starts[:, wanted].astype(np.int64, copy=False)
        del starts
        where += (np.arange(n, dtype=np.int64) * width + hs)[:, None]
        windows = np.lib.stride_tricks.sliding_window_view(records.reshape(-1), 8)
        word = windows[where].view(">u8")[..., 0]  # the 8 bytes at each value, big-endian
        values = word.view(">f8").astype(np.float64)
        integer = (st >= 1) & (st <= 6)
        if integer.any():
            numbers = word.view(">i8")[integer].astype(np.int64) >> _SHIFT[st[integer]]
            values[integer] = numbers.astype(np.float64)
        other = st != 7
        other &= ~integer
        if other.any():
            values[other] = _CONSTANT[st[other]]
        if (st >= 12).any():
            self._text(st, records.reshape(-1), where, values, columns)
        values = np.ascontiguousarray(values.T)  # one row per column, for Polars
        return _frame(values, names, rowids, rid)

    def _text(
        self,
        st: NDArray[np.uint8],
        flat: NDArray[np.uint8],
        where: NDArray[np.int64],
        values: NDArray[np.float64],
        columns: Sequence[str],
    ) -> None:
        if ((st >= 12) & (st % 2 == 0)).any():
            msg = "BLOB value"
            raise _Unsupported(msg)
        rows, cols = np.nonzero(st >= 13)  # st is (rows, columns)
        texts = []
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            length = (int(st[r, c]) - 13) // 2
            start = int(where[r, c])
            texts.append(bytes(flat[start : start + length]).decode("utf-8", errors="replace"))
        for c in np.unique(cols).tolist():
            pick = cols == c
            what = f"column {columns[c]!r} of table {self.table.name!r} in {str(self.path)!r}"
            parsed = parse_float_text(
                pl.Series("t", [t for t, p in zip(texts, pick, strict=True) if p]), what=what
            )
            values[rows[pick], c] = parsed.fill_null(np.nan).to_numpy()


def _frame(
    values: NDArray[np.float64], names: Sequence[str], rowids: NDArray[np.int64], rid: str
) -> pl.DataFrame:
    """Columns from a (columns, rows) matrix; NaN (SQL NULL) → null in the columns that have it."""
    if values.shape[0] == 1:  # from_numpy reads a (1, n) matrix as one row
        frame = pl.DataFrame({names[0]: values[0]})
    else:
        frame = pl.from_numpy(values, schema=list(names), orient="col")
    with_nan = np.flatnonzero(np.isnan(values).any(axis=1))
    if with_nan.size:
        frame = frame.with_columns(pl.col([names[int(i)] for i in with_nan]).fill_nan(None))
    return frame.insert_column(0, pl.Series(rid, rowids, dtype=pl.Int64))


def open_record_reader(path: str | Path, table: TableInfo) -> RecordReader | None:
    """A :class:`RecordReader` for ``table``, or None when the fast path does not apply."""
    file = Path(path)
    try:
        geometry = _geometry(file)
        con = sqlite3.connect(f"file:{file.resolve()}?mode=ro", uri=True)
        try:
            row = con.execute(
                "SELECT rootpage, sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                (table.name,),
            ).fetchone()
            info = con.execute(f'PRAGMA table_info("{table.name}")').fetchall()
        finally:
            con.close()
    except (OSError, sqlite3.Error, _Unsupported):
        return None
    if row is None or not row[0]:
        return None
    sql = (row[1] or "").upper()
    if "WITHOUT ROWID" in sql:
        return None
    # an INTEGER PRIMARY KEY column is stored as NULL (its value is the rowid)
    if (
        any(r[5] and str(r[2]).upper() == "INTEGER" for r in info)
        and sum(r[5] > 0 for r in info) == 1
    ):
        return None
    return RecordReader(file, table, int(row[0]), geometry)
