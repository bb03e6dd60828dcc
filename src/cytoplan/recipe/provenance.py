"""Provenance: cheap input checksums and the ``<output>.manifest.json`` beside each output.

**Checksum of an input** (cheap enough for 50 GB SQLite files): files up to
4 MiB are hashed in full (SHA-256). Larger files are identified by their size
and the SHA-256 of 16 sampled blocks — the first and the last MiB and 14 blocks
of 64 KiB at evenly spaced offsets — so about 2.9 MiB is read whatever the file
size (``method: "sha256-sampled-v1"``). A change that keeps the size and touches
none of the sampled blocks is not seen: use ``cytoplan run --force`` after
editing a file in place. Remote objects (``s3://``, ``https://``) are identified
by their ETag and size as the object store reports them (``method: "etag"``),
without reading them.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
>>> _ = path.write_text("hello")
>>> info = checksum(path)
>>> info["size"], info["method"], info["checksum"][:12]
(5, 'sha256', '2cf24dba5fb0')
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from cytoplan.exceptions import SourceError
from cytoplan.io._atomic import atomic_path

__all__ = [
    "MANIFEST_SUFFIX",
    "checksum",
    "manifest_path",
    "package_versions",
    "read_manifest",
    "write_manifest",
]

MANIFEST_SUFFIX = ".manifest.json"
_FULL_LIMIT = 4 << 20
_EDGE = 1 << 20
_BLOCK = 64 << 10
_INNER_BLOCKS = 14


def _sampled(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    digest.update(str(size).encode())
    with path.open("rb") as handle:
        offsets = [0]
        span = size - 2 * _EDGE - _BLOCK
        offsets += [_EDGE + span * (i + 1) // (_INNER_BLOCKS + 1) for i in range(_INNER_BLOCKS)]
        lengths = [_EDGE] + [_BLOCK] * _INNER_BLOCKS
        offsets.append(size - _EDGE)
        lengths.append(_EDGE)
        for offset, length in zip(offsets, lengths, strict=True):
            handle.seek(offset)
            digest.update(handle.read(length))
    return digest.hexdigest()


def _full(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum(path: str | Path, *, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Size and a cheap checksum of a file, a folder (its files) or a remote object.

    Returns
    -------
    dict
        ``{"size": bytes, "checksum": hex or ETag, "method": "sha256" |
        "sha256-sampled-v1" | "etag" | "folder-sha256"}``.
    """
    text = str(path)
    if "://" in text:
        from cytoplan.io.remote import filesystem, remote_error

        try:
            info = filesystem(text, storage_options).info(text)
        except SourceError:
            raise
        except Exception as error:  # any object-store failure is a source error
            raise remote_error(error, text) from error
        tag = info.get("ETag") or info.get("etag") or info.get("md5") or ""
        return {
            "size": int(info.get("size") or 0),
            "checksum": str(tag).strip('"'),
            "method": "etag",
        }
    local = Path(text)
    if local.is_dir():
        digest = hashlib.sha256()
        total = 0
        for item in sorted(p for p in local.rglob("*") if p.is_file()):
            info = checksum(item)
            total += info["size"]
            digest.update(f"{item.relative_to(local)}\0{info['checksum']}\n".encode())
        return {"size": total, "checksum": digest.hexdigest(), "method": "folder-sha256"}
    if not local.is_file():
        msg = f"input {text!r} does not exist"
        raise SourceError(msg)
    size = local.stat().st_size
    if size <= _FULL_LIMIT:
        return {"size": size, "checksum": _full(local), "method": "sha256"}
    return {"size": size, "checksum": _sampled(local, size), "method": "sha256-sampled-v1"}


def package_versions() -> dict[str, str]:
    """Versions of cytoplan, its engines and Python (read from package metadata)."""
    versions = {"python": platform.python_version()}
    for name in ("cytoplan", "polars", "numpy", "pyarrow", "duckdb", "scipy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["platform"] = sys.platform
    return versions


def manifest_path(output: str | Path) -> Path:
    """``<output>.manifest.json``."""
    out = Path(output)
    return out.with_name(out.name + MANIFEST_SUFFIX)


def write_manifest(output: str | Path, manifest: dict[str, Any]) -> Path:
    """Write the manifest of ``output`` atomically (after the data, by the caller)."""
    dest = manifest_path(output)
    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return dest


def read_manifest(output: str | Path) -> dict[str, Any] | None:
    """The manifest of ``output``, or None when missing or unreadable."""
    dest = manifest_path(output)
    try:
        data = json.loads(dest.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
