"""Write a file atomically: to a temporary folder beside it, renamed when complete.

A failed write (an exception, including ``KeyboardInterrupt``) removes the
temporary folder and leaves ``dest`` untouched: no partial output, and a good file
from an earlier run is never clobbered.

The file is written inside a private folder (``.<name>.<random>.tmp/<name>``)
rather than under a temporary file name because a writer may still create its
file after it has reported failure (Polars' streaming sinks open the file on a
background thread): once the folder is removed, such a late create fails
instead of leaving a stray file behind.

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
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cytoplan.exceptions import CytoplanError, ParameterError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["atomic_path", "is_remote", "remove_temporary"]


def is_remote(path: str | Path) -> bool:
    """True for URLs such as ``s3://bucket/key`` (written by the object store, not renamed)."""
    return "://" in str(path)


def _temporary_folder(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")


def remove_temporary(path: Path, *, attempts: int = 50) -> None:
    """Remove a temporary file or folder, retrying while a late writer adds to it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / ".x.tmp"
    >>> folder.mkdir(); _ = (folder / "x").write_text("half")
    >>> remove_temporary(folder); folder.exists()
    False
    """
    for _ in range(attempts):
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            time.sleep(0.01)  # a file appeared while the folder was being removed
            continue
        if not path.exists():
            return


def require_writable(dest: str | Path) -> Path:
    """``dest`` as a path, checked before anything is computed: a file name in an
    existing folder."""
    target = Path(dest)
    if target.is_dir():
        msg = f"cannot write {str(target)!r}: it is a folder; give a file name"
        raise ParameterError(msg)
    if not target.parent.is_dir():
        msg = f"cannot write {str(target)!r}: folder {str(target.parent)!r} does not exist"
        raise ParameterError(msg)
    return target


def _naming(error: OSError, target: Path) -> OSError:
    """The same system error, naming the file the caller asked for, not the temporary one."""
    return type(error)(error.errno, error.strerror, str(target))


@contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; rename it to ``dest`` on success.

    The temporary file is not created in advance (writers create it with the
    usual permissions) but its private folder is. On any exception the folder is
    removed and the exception propagates; ``dest`` is replaced only after the
    block finished without error.

    Parameters
    ----------
    dest : str or Path
        Final path. Its folder must exist.

    Yields
    ------
    Path
        Where to write (``.<name>.<random>.tmp/<name>`` in the same folder).
    """
    target = require_writable(dest)
    folder = _temporary_folder(target)
    try:
        folder.mkdir()
    except OSError as error:
        raise _naming(error, target) from None
    tmp = folder / target.name
    try:
        yield tmp
        if not tmp.exists():
            msg = f"internal error: nothing was written to the temporary file for {str(target)!r}"
            raise CytoplanError(msg)
        tmp.replace(target)
    except OSError as error:
        remove_temporary(folder)
        if error.filename is not None and str(folder) in str(error.filename):
            raise _naming(error, target) from None
        raise
    except BaseException:
        remove_temporary(folder)
        raise
    with contextlib.suppress(OSError):
        folder.rmdir()
