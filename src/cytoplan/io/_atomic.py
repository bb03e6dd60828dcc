"""Write a file atomically: to a temporary name in the same folder, renamed when complete.

A failed write (an exception, including ``KeyboardInterrupt``) removes the
temporary file and leaves ``dest`` untouched: no partial output, and a good file
from an earlier run is never clobbered.

Examples
--------
>>> import tempfile, pathlib
>>> dest = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> with atomic_path(dest) as tmp:
...     _ = tmp.write_text("done")
>>> dest.read_text()
'done'
>>> try:
...     with atomic_path(dest) as tmp:
...         _ = tmp.write_text("half")
...         raise RuntimeError("boom")
... except RuntimeError:
...     pass
>>> dest.read_text(), sorted(p.name for p in dest.parent.iterdir())
('done', ['out.txt'])
"""

from __future__ import annotations

import contextlib
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cytoplan.exceptions import CytoplanError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["atomic_path", "is_remote"]


def is_remote(path: str | Path) -> bool:
    """True for URLs such as ``s3://bucket/key`` (written by the object store, not renamed)."""
    return "://" in str(path)


def _temporary_name(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")


@contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; rename it to ``dest`` on success.

    The temporary file is not created in advance (writers create it with the
    usual permissions). On any exception it is removed and the exception
    propagates; ``dest`` is replaced only after the block finished without error.

    Parameters
    ----------
    dest : str or Path
        Final path. Its folder must exist.

    Yields
    ------
    Path
        Where to write (``.<name>.<random>.tmp`` in the same folder).
    """
    target = Path(dest)
    if target.is_dir():
        msg = f"cannot write {str(target)!r}: it is a folder; give a file name"
        raise CytoplanError(msg)
    if not target.parent.is_dir():
        msg = f"cannot write {str(target)!r}: folder {str(target.parent)!r} does not exist"
        raise CytoplanError(msg)
    tmp = _temporary_name(target)
    try:
        yield tmp
        if not tmp.exists():
            msg = f"internal error: nothing was written to the temporary file for {str(target)!r}"
            raise CytoplanError(msg)
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
