"""Open a SQLite file read-only and list its tables, columns and declared types.

Examples
--------
>>> import sqlite3, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "plate.sqlite"
>>> con = sqlite3.connect(path)
>>> _ = con.execute("CREATE TABLE Per_Image (ImageNumber INTEGER, Image_Metadata_Well TEXT)")
>>> con.commit(); con.close()
>>> info = read_catalogue(path)["Per_Image"]
>>> info.columns, info.declared, info.kind
(('ImageNumber', 'Image_Metadata_Well'), ('INTEGER', 'TEXT'), 'table')
>>> read_catalogue(path.parent / "missing.sqlite")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
cytoplan.exceptions.SourceError: SQLite file not found: '.../missing.sqlite'
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path

from cytoplan.exceptions import SourceError
from cytoplan.io.cellprofiler import TableInfo

__all__ = ["SQLITE_HEADER", "check_sqlite_file", "quote", "read_catalogue", "read_only_uri"]

SQLITE_HEADER = b"SQLite format 3\x00"


def quote(name: str) -> str:
    """An SQL identifier in double quotes (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def check_sqlite_file(path: str | Path) -> Path:
    """Return the path if it is a readable SQLite file, else raise :class:`SourceError`."""
    file = Path(path)
    if not file.exists():
        msg = f"SQLite file not found: {str(file)!r}"
        raise SourceError(msg)
    if file.is_dir():
        msg = f"{str(file)!r} is a folder, not a SQLite file"
        raise SourceError(msg)
    try:
        with file.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError as err:
        msg = f"cannot read {str(file)!r}: {err}"
        raise SourceError(msg) from err
    if head != SQLITE_HEADER:
        what = "empty" if not head else "not a SQLite database (wrong file header)"
        msg = f"{str(file)!r} is {what}; expected a CellProfiler SQLite file"
        raise SourceError(msg)
    return file


def read_only_uri(path: str | Path) -> str:
    """A ``file:`` URI that opens the database read-only."""
    absolute = Path(path).resolve()
    return f"file:{urllib.parse.quote(str(absolute))}?mode=ro"


def read_catalogue(path: str | Path) -> dict[str, TableInfo]:
    """Every table and view of a SQLite file with its columns and declared types."""
    file = check_sqlite_file(path)
    try:
        con = sqlite3.connect(read_only_uri(file), uri=True)
    except sqlite3.Error as err:
        msg = f"cannot open {str(file)!r} as SQLite: {err}"
        raise SourceError(msg) from err
    try:
        rows = con.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY rowid"
        ).fetchall()
        catalogue: dict[str, TableInfo] = {}
        for name, kind in rows:
            info = con.execute(f"PRAGMA table_info({quote(name)})").fetchall()
            catalogue[name] = TableInfo(
                name=name,
                columns=tuple(row[1] for row in info),
                declared=tuple(row[2] or "" for row in info),
                kind="view" if kind == "view" else "table",
            )
    except sqlite3.Error as err:
        msg = f"cannot read the tables of {str(file)!r} as SQLite: {err}"
        raise SourceError(msg) from err
    finally:
        con.close()
    return catalogue
