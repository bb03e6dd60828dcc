"""Where a run's outputs live: a local folder, or an ``s3://`` prefix staged locally.

The runner addresses every output by its *location*: a local :class:`~pathlib.Path`
or, when the recipe's output folder is an ``s3://`` prefix, the object's URL. An
:class:`OutputStore` maps a location to the local file a step writes and reads,
publishes finished outputs with their manifests, and answers the questions the
skip logic asks (does the output exist, what does its manifest say, what is the
checksum of a previous level).

* :class:`LocalStore` — the location *is* the file; manifests are written
  beside it (atomically, :func:`~cytoplan.recipe.provenance.write_manifest`).
* :class:`RemoteStore` — a step writes into a local staging folder (one per run,
  under ``CYTOPLAN_TEMP_DIR``, removed at the end). Each finished output is
  uploaded with :func:`~cytoplan.io.remote.upload_file` (a temporary key, then a
  server-side copy: a failed upload leaves no partial object and keeps the
  previous one), then its manifest, which also records the object's ETag. The
  output folder is listed once per run; manifests are read from the bucket. A
  step reading a previous level reads the staged copy when this run wrote it, or
  downloads the object once. So the data bytes are those of a local run.

A previous level's checksum must not depend on where it was read from (else a
second run would see changed inputs): for an object this run did not write, the
checksum recorded in its manifest (of the same bytes, computed before upload) is
used when the object's ETag and size still match the manifest; otherwise the
ETag stands in, and the step re-runs.

Examples
--------
>>> import pathlib, tempfile
>>> store = LocalStore()
>>> out = pathlib.Path(tempfile.mkdtemp()) / "a.parquet"
>>> store.local(out) == out, store.exists(out)
(True, False)
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from cytoplan.exceptions import RecipeError, SourceError
from cytoplan.io._atomic import remove_temporary
from cytoplan.recipe.provenance import (
    MANIFEST_SUFFIX,
    checksum,
    manifest_path,
    read_manifest,
    write_manifest,
)

__all__ = [
    "RUN_LOCK",
    "LocalStore",
    "Location",
    "OutputStore",
    "RemoteStore",
    "exclusive_run",
    "open_store",
]

#: A local output file or an object URL.
Location = Path | str


def _is_url(location: Location) -> bool:
    return isinstance(location, str) and "://" in location


class OutputStore:
    """The interface of :class:`LocalStore` and :class:`RemoteStore`."""

    remote = False

    def local(self, location: Location) -> Path:
        """The local file a step writes for ``location`` (and reads back)."""
        raise NotImplementedError

    def exists(self, location: Location) -> bool:
        """Whether the output exists (in the bucket for a remote store)."""
        raise NotImplementedError

    def read_manifest(self, location: Location) -> dict[str, Any] | None:
        """The manifest of ``location``, or None when missing or unreadable."""
        raise NotImplementedError

    def up_to_date(self, location: Location, fingerprint: str) -> bool:
        """Output present, manifest with ``fingerprint``, size and checksum as recorded."""
        raise NotImplementedError

    def checksum(self, location: Location) -> dict[str, Any]:
        """Size and checksum of an output read as an input by a later step."""
        raise NotImplementedError

    def owns(self, location: Location) -> bool:
        """Whether ``location`` is handled by this store (else it is a plain input)."""
        raise NotImplementedError

    def readable(self, location: Location) -> Path:
        """A local file holding the output's bytes (downloaded once if needed)."""
        raise NotImplementedError

    def publish(self, location: Location, manifest: dict[str, Any]) -> None:
        """Make a written output final, then write its manifest."""
        raise NotImplementedError

    def remove_stale(self, locations: Iterable[Location]) -> None:
        """Delete temporary files a killed run left beside these outputs."""
        raise NotImplementedError

    def invalidate(self, locations: Iterable[Location]) -> None:
        """Before a step replaces these outputs: forget their manifests, so that a step
        stopped between two of its files leaves no new file beside an old manifest."""

    def prefetch(self, locations: Iterable[Location]) -> None:
        """Read the manifests of these outputs at once (remote stores; a cache)."""

    def close(self) -> None:
        """Release the staging folder (remote stores)."""


class LocalStore(OutputStore):
    """Outputs are local files; each location is its own file."""

    def local(self, location: Location) -> Path:
        return Path(location)

    def exists(self, location: Location) -> bool:
        return Path(location).is_file() and manifest_path(location).is_file()

    def read_manifest(self, location: Location) -> dict[str, Any] | None:
        return read_manifest(location)

    def up_to_date(self, location: Location, fingerprint: str) -> bool:
        if not Path(location).is_file():
            return False
        manifest = read_manifest(location)
        if manifest is None or manifest.get("fingerprint") != fingerprint:
            return False
        recorded = manifest.get("output", {})
        current = checksum(location)
        return bool(
            recorded.get("size") == current["size"]
            and recorded.get("checksum") == current["checksum"]
        )

    def checksum(self, location: Location) -> dict[str, Any]:
        return checksum(location)

    def owns(self, location: Location) -> bool:
        return not _is_url(location)

    def readable(self, location: Location) -> Path:
        return Path(location)

    def publish(self, location: Location, manifest: dict[str, Any]) -> None:
        write_manifest(location, manifest)

    def invalidate(self, locations: Iterable[Location]) -> None:
        for location in locations:
            manifest_path(location).unlink(missing_ok=True)

    def remove_stale(self, locations: Iterable[Location]) -> None:
        for location in locations:
            for target in (Path(location), manifest_path(location)):
                if target.parent.is_dir():
                    for stale in target.parent.glob(f".{target.name}.*.tmp"):
                        remove_temporary(stale)


class RemoteStore(OutputStore):
    """Outputs under an ``s3://`` prefix, computed in a local staging folder.

    Parameters
    ----------
    root : str
        The output folder, ``s3://bucket/prefix`` (no trailing ``/``).
    storage_options : mapping, optional
        Object-store options (:func:`cytoplan.io.remote.storage_options_for`).
    staging : Path
        An empty local folder for this run's files (removed by :meth:`close`).
    """

    remote = True

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None, staging: Path) -> None:
        from cytoplan.io.remote import filesystem

        self.root = root.rstrip("/")
        self.scheme = self.root.split("://", 1)[0]
        self.options = dict(storage_options or {})
        self.staging = staging
        self.fs = filesystem(self.root, self.options)
        self._listing: dict[str, dict[str, Any]] | None = None
        self._manifests: dict[str, dict[str, Any] | None] = {}
        self._staged: set[str] = set()
        self._files = LocalStore()  # absolute local paths in templates stay local

    # -- names
    @staticmethod
    def _key(url: str) -> str:
        """``bucket/key`` (s3fs' own spelling of a path)."""
        return url.split("://", 1)[1]

    def _url(self, location: Location) -> str:
        if not _is_url(location):
            msg = f"{str(location)!r} is not an object URL in the output folder {self.root!r}"
            raise SourceError(msg)
        return str(location)

    def local(self, location: Location) -> Path:
        if not _is_url(location):
            return self._files.local(location)
        key = posixpath.normpath(self._key(self._url(location)))
        return self.staging / "objects" / key

    def owns(self, location: Location) -> bool:
        """Every location: objects (below the folder, beside it) and local paths alike."""
        return True

    def _under_root(self, url: str) -> bool:
        return url.startswith(self.root + "/")

    # -- what the bucket holds
    def _list(self) -> dict[str, dict[str, Any]]:
        """Every object under the output folder: one listing per run, updated on upload."""
        if self._listing is None:
            from cytoplan.io.remote import retrying

            prefix = self._key(self.root)
            found = retrying(
                lambda: self.fs.find(prefix, detail=True), url=self.root + "/", action="list"
            )
            self._listing = {
                path: info for path, info in found.items() if info.get("type") != "directory"
            }
        return self._listing

    def _info(self, url: str) -> dict[str, Any] | None:
        if self._under_root(url):
            return self._list().get(self._key(url))
        from cytoplan.io.remote import retrying

        try:
            info: dict[str, Any] = retrying(lambda: self.fs.info(url), url=url)
        except SourceError:
            return None
        return info

    @staticmethod
    def _etag(info: Mapping[str, Any]) -> str:
        tag = info.get("ETag") or info.get("etag") or ""
        return str(tag).strip('"')

    def exists(self, location: Location) -> bool:
        if not _is_url(location):
            return self._files.exists(location)
        url = self._url(location)
        return self._info(url) is not None and self._info(url + MANIFEST_SUFFIX) is not None

    def read_manifest(self, location: Location) -> dict[str, Any] | None:
        from cytoplan.io.remote import retrying

        if not _is_url(location):
            return self._files.read_manifest(location)
        url = self._url(location) + MANIFEST_SUFFIX
        if url in self._manifests:
            return self._manifests[url]
        data: Any = None
        if self._info(url) is not None:
            try:
                data = json.loads(retrying(lambda: self.fs.cat_file(url), url=url))
            except (SourceError, ValueError):
                data = None
        manifest = data if isinstance(data, dict) else None
        self._manifests[url] = manifest
        return manifest

    def _verified(self, url: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(object info, manifest) — the manifest only if it describes the object as it is."""
        info = self._info(url)
        if info is None:
            return None, None
        manifest = self.read_manifest(url)
        if manifest is None:
            return info, None
        recorded = manifest.get("output", {})
        if recorded.get("size") != int(info.get("size") or 0) or recorded.get("etag") != self._etag(
            info
        ):
            return info, None
        return info, manifest

    def up_to_date(self, location: Location, fingerprint: str) -> bool:
        if not _is_url(location):
            return self._files.up_to_date(location, fingerprint)
        _, manifest = self._verified(self._url(location))
        return manifest is not None and manifest.get("fingerprint") == fingerprint

    def checksum(self, location: Location) -> dict[str, Any]:
        if not _is_url(location):
            return self._files.checksum(location)
        url = self._url(location)
        if url in self._staged:
            return checksum(self.local(url))
        info, manifest = self._verified(url)
        if info is None:
            return checksum(url, storage_options=self.options)  # raises "not found"
        if manifest is not None:
            recorded = manifest["output"]
            return {k: recorded[k] for k in ("size", "checksum", "method")}
        return {"size": int(info.get("size") or 0), "checksum": self._etag(info), "method": "etag"}

    # -- reading and writing
    def readable(self, location: Location) -> Path:
        from cytoplan.io.remote import retrying

        if not _is_url(location):
            return self._files.readable(location)
        url = self._url(location)
        local = self.local(url)
        if url not in self._staged:
            local.parent.mkdir(parents=True, exist_ok=True)
            partial = local.with_name(f".{local.name}.download")
            retrying(lambda: self.fs.get_file(url, str(partial)), url=url)
            partial.replace(local)
            self._staged.add(url)
        return local

    def publish(self, location: Location, manifest: dict[str, Any]) -> None:
        from cytoplan.io.remote import retrying, upload_file

        if not _is_url(location):
            self._files.publish(location, manifest)
            return
        url = self._url(location)
        local = self.local(url)
        self._staged.add(url)
        listing = self._list()
        # a previous manifest left in place if the manifest upload fails records the
        # previous object's ETag, so it never vouches for the new object
        upload_file(local, url, self.options)
        info = retrying(lambda: self.fs.info(url), url=url)
        listing[self._key(url)] = info
        manifest["output"]["etag"] = self._etag(info)
        written = write_manifest(local, manifest)
        target = url + MANIFEST_SUFFIX
        self._manifests.pop(target, None)
        upload_file(written, target, self.options)
        listing[self._key(target)] = retrying(lambda: self.fs.info(target), url=target)
        self._manifests[target] = manifest

    def prefetch(self, locations: Iterable[Location]) -> None:
        """Fetch every existing manifest below the folder concurrently (s3fs ``cat``).

        A run over hundreds of plates decides its skips after one listing and one
        batch of concurrent GETs, not one round trip per output.
        """
        listing = self._list()
        wanted = [
            str(p) + MANIFEST_SUFFIX
            for p in locations
            if _is_url(p)
            and self._under_root(str(p))
            and str(p) + MANIFEST_SUFFIX not in self._manifests
        ]
        keys = [self._key(url) for url in wanted if self._key(url) in listing]
        if not keys:
            return
        try:
            found = self.fs.cat(keys, on_error="return")
        except Exception:
            return
        for key, body in found.items():
            if isinstance(body, BaseException):
                continue  # read again (with retries) when needed
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            self._manifests[f"{self.scheme}://{key}"] = data if isinstance(data, dict) else None

    def remove_stale(self, locations: Iterable[Location]) -> None:
        from cytoplan.io.remote import retrying

        wanted: set[tuple[str, str]] = set()
        locations = list(locations)
        self._files.remove_stale(p for p in locations if not _is_url(p))
        for location in locations:
            if not _is_url(location):
                continue
            key = self._key(str(location))
            head, _, name = key.rpartition("/")
            wanted.add((head, name))
            wanted.add((head, name + MANIFEST_SUFFIX))
        listing = dict(self._list())
        outside = {head for head, _ in wanted if not self._under_root(f"{self.scheme}://{head}/")}
        for head in sorted(outside):  # e.g. profiling-recipe's ../gct/ beside the output folder
            folder = f"{self.scheme}://{head}/"
            found = retrying(lambda: self.fs.glob(f"{folder}.*.tmp"), url=folder, action="list")  # noqa: B023
            listing.update({str(path): {} for path in found})
        for key in list(listing):
            head, _, name = key.rpartition("/")
            if not (name.startswith(".") and name.endswith(".tmp")):
                continue
            target = name[1:-4].rsplit(".", 1)[0]
            if (head, target) in wanted:
                stale = f"{self.scheme}://{key}"
                retrying(lambda: self.fs.rm_file(stale), url=stale, action="write")  # noqa: B023
                self._list().pop(key, None)

    def close(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


#: Held by a run for its whole length, beside the outputs of a local output folder.
RUN_LOCK = ".cytoplan-run.lock"


@contextlib.contextmanager
def exclusive_run(root: Path | str) -> Iterator[None]:
    """Hold the output folder's run lock, or fail at once if another run holds it.

    Two runs writing one folder would each replace the other's files and manifests
    step by step. A remote (``s3://``) folder has no lock: runs on other machines
    cannot be told apart there.

    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with exclusive_run(root):
    ...     with exclusive_run(root):
    ...         pass
    Traceback (most recent call last):
    cytoplan.exceptions.RecipeError: another cytoplan run is writing to ...
    """
    if _is_url(root):
        yield
        return
    from filelock import FileLock, Timeout

    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / RUN_LOCK
    lock = FileLock(lock_path, timeout=0, thread_local=False, is_singleton=False)
    try:
        lock.acquire()
    except Timeout:
        msg = (
            f"another cytoplan run is writing to {str(folder)!r}; wait for it to finish "
            "or give this run another output folder"
        )
        raise RecipeError(msg) from None
    try:
        yield
    finally:
        lock.release()
        # no file left among the outputs. Not guarded: a run that opens the file in the
        # instant before this unlink locks a file a third run no longer sees
        lock_path.unlink(missing_ok=True)


@contextlib.contextmanager
def open_store(root: Path | str, storage_options: Mapping[str, Any] | None, temp_dir: Path) -> Any:
    """The store of an output folder (a context manager; a remote one stages under ``temp_dir``).

    >>> import pathlib, tempfile
    >>> with open_store(pathlib.Path("out"), None, pathlib.Path(tempfile.gettempdir())) as s:
    ...     s.remote
    False
    """
    if not _is_url(root):
        yield LocalStore()
        return
    staging = Path(tempfile.mkdtemp(dir=temp_dir, prefix="cytoplan-outputs-"))
    store = RemoteStore(str(root), storage_options, staging)
    try:
        yield store
    finally:
        store.close()
