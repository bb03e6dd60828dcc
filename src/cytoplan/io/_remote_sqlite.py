"""Remote CellProfiler SQLite files: a validated local cache, and ranged reads for small queries.

SQLite needs random access to a file. Two routes were measured against a local
S3 server (``benchmarks/s3.py``, figures in ``docs/s3.md``):

* **Ranged reads** (:func:`connect_ranged`): an `apsw <https://rogerbinns.github.io/apsw/>`_
  virtual file system whose reads are HTTP range requests through fsspec/s3fs,
  with a block cache. SQLite reads only the pages a query touches, so the
  schema, the image table and row counts of a multi-GB plate cost a few MB.
  But SQLite is a row store: a query over an object table's features reads
  every page of that table, and each block costs a round trip, so a *full*
  conversion over ranged reads is slower than downloading once.
* **Local cache** (:func:`cached_copy`, the default for scans and conversions):
  the file is downloaded once (streamed, to a ``.part`` file renamed when
  complete) into ``$CYTOPLAN_TEMP_DIR/cytoplan-sqlite-cache/`` and reused while
  the object's ETag and size are unchanged (one HEAD request per use). A
  changed object is downloaded again; a failed download leaves nothing.

``apsw`` is optional (the ``remote-sqlite`` extra installs it); without it
:func:`connect_ranged` raises a :class:`~cytoplan.exceptions.SourceError`
saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cytoplan.config import settings
from cytoplan.exceptions import SourceError
from cytoplan.io import remote

__all__ = [
    "RangedFile",
    "TableInfo",
    "cache_folder",
    "cached_copy",
    "connect_ranged",
    "ranged_query",
    "release",
    "sqlite_tables",
]

#: Bytes fetched per ranged request; SQLite pages (4–64 KiB) are served from these blocks.
DEFAULT_BLOCK_SIZE = 1 << 20


def cache_folder() -> Path:
    """Where remote SQLite files are cached: ``<temp dir>/cytoplan-sqlite-cache``."""
    return settings().temp_dir / "cytoplan-sqlite-cache"


def _identity(info: Mapping[str, Any]) -> dict[str, Any]:
    etag = info.get("ETag") or info.get("etag") or info.get("LastModified")
    return {"etag": str(etag) if etag is not None else None, "size": info.get("size")}


def cached_copy(
    url: str,
    storage_options: Mapping[str, object] | None = None,
    *,
    folder: Path | None = None,
) -> Path:
    """A local copy of a remote file, downloaded once and reused while unchanged.

    Parameters
    ----------
    url : str
        ``s3://...`` or ``https://...``.
    storage_options : mapping, optional
        As for :func:`cytoplan.io.remote.storage_options_for`.
    folder : Path, optional
        The cache folder (default: :func:`cache_folder`).

    Returns
    -------
    Path
        The cached file (``<sha256(url)[:16]>-<name>``), with a ``.json``
        sidecar recording the object's ETag and size.

    Raises
    ------
    SourceError
        The object is missing (404) or forbidden (403), or the download failed
        (after retries); nothing is left in the cache then.
    """
    fs = remote.filesystem(url, storage_options)
    info = remote.retrying(lambda: fs.info(url), url=url)
    identity = _identity(info)
    where = folder if folder is not None else cache_folder()
    where.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    target = where / f"{key}-{Path(url.split('?')[0]).name}"
    sidecar = target.with_name(target.name + ".json")
    if target.exists() and sidecar.exists():
        try:
            cached = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            cached = None
        if cached == {"url": url, **identity} and target.stat().st_size == identity["size"]:
            return target
    fd, tmp = tempfile.mkstemp(dir=where, prefix=f".{key}-", suffix=".part")
    os.close(fd)
    try:
        # s3fs fetches large objects in concurrent ranged chunks
        remote.retrying(lambda: fs.get_file(url, tmp), url=url)
        if identity["size"] is not None and Path(tmp).stat().st_size != identity["size"]:
            msg = f"downloading {url!r} was cut short; run again"
            raise SourceError(msg)
        Path(tmp).replace(target)
        sidecar.write_text(json.dumps({"url": url, **identity}))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# ----------------------------------------------------------------------------- ranged reads


@dataclass
class _Stats:
    requests: int = 0
    bytes: int = 0


class RangedFile:
    """Read-only random access to a remote object by byte ranges, with a block cache.

    ``stats`` counts the ranged requests made and the bytes they returned.
    """

    def __init__(
        self,
        url: str,
        storage_options: Mapping[str, object] | None = None,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        max_blocks: int = 256,
    ) -> None:
        self.url = url
        self._fs = remote.filesystem(url, storage_options)
        info = remote.retrying(lambda: self._fs.info(url), url=url)
        self.size = int(info["size"])
        self.block_size = block_size
        self.max_blocks = max_blocks
        self._blocks: dict[int, bytes] = {}
        self._lock = threading.Lock()
        self.stats = _Stats()
        self.vfs_name = ""

    def _block(self, index: int) -> bytes:
        with self._lock:
            cached = self._blocks.get(index)
        if cached is not None:
            return cached
        start = index * self.block_size
        end = min(self.size, start + self.block_size)
        data: bytes = remote.retrying(
            lambda: self._fs.cat_file(self.url, start=start, end=end), url=self.url
        )
        with self._lock:
            self.stats.requests += 1
            self.stats.bytes += len(data)
            if len(self._blocks) >= self.max_blocks:
                self._blocks.pop(next(iter(self._blocks)))
            self._blocks[index] = data
        return data

    def read(self, amount: int, offset: int) -> bytes:
        """``amount`` bytes from ``offset`` (fewer at the end of the object)."""
        end = min(self.size, offset + amount)
        parts = []
        position = offset
        while position < end:
            index = position // self.block_size
            block = self._block(index)
            start = position - index * self.block_size
            piece = block[start : start + (end - position)]
            parts.append(piece)
            position += len(piece)
            if not piece:
                break
        return b"".join(parts)


def _apsw() -> Any:
    try:
        import apsw
    except ImportError as err:
        msg = "ranged reads of remote SQLite files need apsw: pip install 'cytoplan[remote-sqlite]'"
        raise SourceError(msg) from err
    return apsw


_VFS_NAME = "cytoplan-ranged"
_READ_ONLY = "remote SQLite files are read-only"
_vfs_lock = threading.Lock()
_vfs: Any = None
_files: dict[str, RangedFile] = {}


def _register_vfs() -> None:
    global _vfs
    apsw = _apsw()
    with _vfs_lock:
        if _vfs is not None:
            return

        class _File:
            def __init__(self, ranged: RangedFile) -> None:
                self.ranged = ranged

            def xRead(self, amount: int, offset: int) -> bytes:
                data = self.ranged.read(amount, offset)
                if len(data) < amount:  # SQLite expects zero-filled short reads
                    data += b"\0" * (amount - len(data))
                return data

            def xFileSize(self) -> int:
                return self.ranged.size

            def xClose(self) -> None:
                return None

            def xLock(self, level: int) -> None:
                return None

            def xUnlock(self, level: int) -> None:
                return None

            def xCheckReservedLock(self) -> bool:
                return False

            def xFileControl(self, op: int, ptr: int) -> bool:
                return False

            def xSectorSize(self) -> int:
                return 4096

            def xDeviceCharacteristics(self) -> int:
                return int(apsw.SQLITE_IOCAP_IMMUTABLE)

            def xSync(self, flags: int) -> None:
                return None

            def xWrite(self, data: bytes, offset: int) -> None:
                raise apsw.ReadOnlyError(_READ_ONLY)

            def xTruncate(self, size: int) -> None:
                raise apsw.ReadOnlyError(_READ_ONLY)

        class _VFS(apsw.VFS):  # type: ignore[misc, name-defined]
            def __init__(self) -> None:
                super().__init__(_VFS_NAME, "")

            def xOpen(self, name: Any, flags: list[int]) -> Any:
                text = name.filename() if hasattr(name, "filename") else str(name)
                ranged = _files.get(text)
                if ranged is None:
                    msg = f"not a registered remote file: {text}"
                    raise apsw.CantOpenError(msg)
                flags[1] = int(apsw.SQLITE_OPEN_READONLY)
                return _File(ranged)

            def xAccess(self, pathname: str, flags: int) -> bool:
                return pathname in _files

            def xFullPathname(self, name: str) -> str:
                return name

        _vfs = _VFS()


def connect_ranged(
    url: str,
    storage_options: Mapping[str, object] | None = None,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> tuple[Any, RangedFile]:
    """A read-only SQLite connection (apsw) to a remote file, reading byte ranges on demand.

    Returns
    -------
    (apsw.Connection, RangedFile)
        The connection and the file whose ``stats`` count requests and bytes.
    """
    apsw = _apsw()
    _register_vfs()
    ranged = RangedFile(url, storage_options, block_size=block_size)
    name = f"/{hashlib.sha256(url.encode()).hexdigest()[:16]}-{id(ranged)}.sqlite"
    ranged.vfs_name = name
    _files[name] = ranged
    flags = int(apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        connection = apsw.Connection(f"file:{name}?immutable=1", flags=flags, vfs=_VFS_NAME)
        connection.execute("select count(*) from sqlite_master").fetchall()
    except apsw.Error as err:
        _files.pop(name, None)
        msg = f"{url!r} is not a readable SQLite file: {err}"
        raise SourceError(msg) from err
    return connection, ranged


def release(ranged: RangedFile) -> None:
    """Forget a file opened by :func:`connect_ranged` (after closing its connection)."""
    _files.pop(ranged.vfs_name, None)


def ranged_query(
    url: str,
    sql: str,
    storage_options: Mapping[str, object] | None = None,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> tuple[list[tuple[Any, ...]], list[str], RangedFile]:
    """Run one read-only query on a remote SQLite file over ranged reads.

    Returns the rows, the column names and the :class:`RangedFile` (for its
    byte counts). Meant for small queries: schema, image tables, counts.
    """
    apsw = _apsw()
    connection, ranged = connect_ranged(url, storage_options, block_size=block_size)
    try:
        cursor = connection.execute(sql)
        try:
            names = [d[0] for d in cursor.getdescription()]
        except apsw.ExecutionCompleteError:
            names = []
        rows = cursor.fetchall()
    except apsw.Error as err:
        msg = f"query on {url!r} failed: {err}"
        raise SourceError(msg) from err
    finally:
        connection.close()
        release(ranged)
    return rows, names, ranged


@dataclass(frozen=True)
class TableInfo:
    """One table of a remote SQLite file, read without downloading it."""

    name: str
    columns: tuple[str, ...]
    max_rowid: int | None  # the row count when rows were only appended (CellProfiler's case)


def sqlite_tables(
    url: str,
    storage_options: Mapping[str, object] | None = None,
    *,
    block_size: int = 64 * 1024,
) -> tuple[list[TableInfo], RangedFile]:
    """Tables, columns and ``max(rowid)`` of a remote SQLite file, over ranged reads.

    Reads the schema and the right-most path of each table's b-tree (``max(rowid)``
    instead of ``count(*)``, which would read every page), so a multi-GB plate
    costs a few small requests. Returns the tables (sorted by name) and the
    :class:`RangedFile` whose ``stats`` count the bytes read.
    """
    apsw = _apsw()
    connection, ranged = connect_ranged(url, storage_options, block_size=block_size)
    try:
        names = [
            row[0]
            for row in connection.execute(
                "select name from sqlite_master where type = 'table' order by name"
            )
        ]
        tables = []
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            columns = tuple(row[1] for row in connection.execute(f"pragma table_info({quoted})"))
            try:
                top = connection.execute(f"select max(rowid) from {quoted}").fetchone()[0]
            except apsw.SQLError:  # WITHOUT ROWID tables
                top = None
            tables.append(TableInfo(name, columns, top))
    except apsw.Error as err:
        msg = f"reading the tables of {url!r} failed: {err}"
        raise SourceError(msg) from err
    finally:
        connection.close()
        release(ranged)
    return tables, ranged
