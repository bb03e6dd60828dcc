"""Read rows of one SQLite table as typed Polars columns, through ADBC's SQLite driver.

ADBC's driver decodes rows in C and returns Arrow batches without holding the
GIL (see docs/ingest.md for the reader comparison). It infers each result
column's type from the values of the batch, which needs care with
CellProfiler files:

* a REAL column that holds the TEXT ``'nan'`` (cytominer-database and older
  CellProfiler write it) comes back as *text*, with the numbers formatted by the
  driver (``'2.123457e+00'``: digits are lost). Whenever a column whose declared
  type is not TEXT comes back as text, the query is re-run with that column split
  in two by SQLite's ``typeof()`` (numbers, and text), and the text is parsed
  here: ``'nan'`` → null, ``'inf'``/``'-inf'`` → ±inf, numeric text → its value,
  anything else → :class:`~cytoplan.exceptions.SchemaError`. A split column stays
  split for later reads of the same table;
* every read fits in one batch (``batch_rows`` is set to the number of rows
  asked for), so types never change between batches;
* wide rows (more than a page: every CellProfiler object table) keep most values
  on overflow pages, which the SQLite built into the ADBC driver reads with one
  ``pread`` system call per value: 5-8x slower than the ``sqlite3`` shell. Reads
  of many columns therefore memory-map the file (``PRAGMA mmap_size``) on a
  connection opened for that one read and closed after it, so that the mapped
  pages it touched leave the process' resident memory right away.

Examples
--------
>>> import sqlite3, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.sqlite"
>>> con = sqlite3.connect(path)
>>> _ = con.execute("CREATE TABLE Cells (ObjectNumber INTEGER, Cells_A REAL)")
>>> _ = con.executemany("INSERT INTO Cells VALUES (?, ?)", [(1, 0.5), (2, "nan"), (3, "-inf")])
>>> con.commit(); con.close()
>>> from cytoplan.io._sqlite_catalog import read_catalogue, read_only_uri
>>> reader = TableReader(read_only_uri(path), read_catalogue(path)["Cells"], "t.sqlite")
>>> reader.read([ColumnRead("Cells_A", "Cells_A", "float")], rows=3)["Cells_A"].to_list()
[0.5, None, -inf]
>>> reader.close()
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from cytoplan.exceptions import SchemaError, SourceError
from cytoplan.io._sqlite_catalog import quote

if TYPE_CHECKING:
    from cytoplan.io.cellprofiler import TableInfo

__all__ = [
    "ColumnRead",
    "TableReader",
    "Target",
    "numbers_as_text",
    "parse_float_text",
    "rowid_name",
    "to_target",
]

#: What a column becomes: Float64, String, Int64, or a join key (numbers stay numbers).
Target = Literal["float", "string", "int", "key"]

NULL_TEXT = ("", "nan", "-nan", "+nan", "na", "n/a", "null", "none")
POS_INF_TEXT = ("inf", "+inf", "infinity", "+infinity")
NEG_INF_TEXT = ("-inf", "-infinity")
_BATCH_LIMIT = 1 << 30


@dataclass(frozen=True)
class ColumnRead:
    """Read table column ``source`` as output column ``name`` of type ``target``."""

    source: str
    name: str
    target: Target


def rowid_name(table: TableInfo) -> str:
    """A rowid alias not shadowed by a real column (``rowid``, ``_rowid_`` or ``oid``)."""
    lowered = {c.lower() for c in table.columns}
    for name in ("rowid", "_rowid_", "oid"):
        if name not in lowered:
            return name
    msg = f"table {table.name!r} has columns named rowid, _rowid_ and oid; cannot address its rows"
    raise SourceError(msg)


def parse_float_text(text: pl.Series, *, what: str) -> pl.Series:
    """Numbers from text: ``'nan'``/empty → null, ``'inf'`` → inf, else the value or an error."""
    clean = text.str.strip_chars()
    lowered = clean.str.to_lowercase()
    parsed = clean.cast(pl.Float64, strict=False)
    frame = pl.DataFrame({"low": lowered, "num": parsed})
    out = frame.select(
        pl.when(pl.col("low").is_in(NULL_TEXT))
        .then(None)
        .when(pl.col("low").is_in(POS_INF_TEXT))
        .then(math.inf)
        .when(pl.col("low").is_in(NEG_INF_TEXT))
        .then(-math.inf)
        .otherwise(pl.col("num").fill_nan(None))
        .alias(text.name)
    ).to_series()
    bad = text.filter(
        text.is_not_null() & out.is_null() & ~lowered.is_in(NULL_TEXT).fill_null(value=False)
    )
    if bad.len():
        msg = f"{what} holds text that is not a number: {bad[0]!r} ({bad.len()} value(s))"
        raise SchemaError(msg)
    return out


def numbers_as_text(series: pl.Series) -> pl.Series:
    """Numbers as text; integral floats without ``.0`` (``8.0`` → ``"8"``, ``0.5`` → ``"0.5"``)."""
    if series.dtype == pl.Float64:
        whole = series == series.round(0)
        ints = series.cast(pl.Int64, strict=False).cast(pl.String)
        return pl.select(
            pl.when(whole).then(ints).otherwise(series.cast(pl.String)).alias(series.name)
        ).to_series()
    return series.cast(pl.String)


def to_target(
    series: pl.Series, target: Target, *, what: str, text: pl.Series | None = None
) -> pl.Series:
    """Convert one column read from SQLite (``text``: its TEXT values, when split)."""
    dtype = series.dtype
    if dtype == pl.Binary:  # the reader gives the whole column as bytes then
        msg = f"{what} holds binary values (SQLite BLOB), not numbers or text"
        raise SchemaError(msg)
    if target == "float":
        # SQLite stores no NaN (it becomes NULL), so doubles need no NaN → null pass here.
        out = parse_float_text(series, what=what) if dtype == pl.String else series.cast(pl.Float64)
        if text is not None:
            out = out.fill_null(parse_float_text(text, what=what))
        return out
    if target == "int":
        if dtype == pl.String:
            numbers = parse_float_text(series, what=what)
        else:
            numbers = series.cast(pl.Float64) if dtype != pl.Int64 else series
        if text is not None:
            numbers = numbers.cast(pl.Float64).fill_null(parse_float_text(text, what=what))
        if numbers.dtype == pl.Float64:
            fractional = numbers.is_finite() & (numbers != numbers.round(0))
            if fractional.any() or numbers.is_infinite().any():
                msg = f"{what} is declared INTEGER but holds non-integer values"
                raise SchemaError(msg)
        return numbers.cast(pl.Int64)
    if target == "string":
        out = series if dtype == pl.String else numbers_as_text(series)
        if text is not None:
            out = text.fill_null(out)
        return out
    # key: numbers stay numbers (compared as pandas would), text stays text
    if text is not None:
        return text.fill_null(numbers_as_text(series))
    if dtype == pl.Null:
        return series.cast(pl.Float64)
    return series.cast(pl.Float64) if dtype.is_numeric() else series


class TableReader:
    """Reads rows of one table through its own ADBC connection (use one per thread).

    Parameters
    ----------
    uri : str
        A read-only ``file:`` URI of the database.
    table : TableInfo
    where : str
        The file name, for messages.
    mmap_bytes : int
        When positive, every read opens its own connection with this
        ``PRAGMA mmap_size`` (use the file size) and closes it afterwards.
    """

    def __init__(self, uri: str, table: TableInfo, where: str, *, mmap_bytes: int = 0) -> None:
        self.uri = uri
        self.table = table
        self.where = where
        self.mmap_bytes = mmap_bytes
        self.split: set[str] = set()
        self.rowid = rowid_name(table)
        self.queries = 0
        self.last_sql = ""
        self._connection: Any = None
        self._cursor: Any = None

    def _cursor_(self) -> Any:
        if self._cursor is None:
            import adbc_driver_sqlite.dbapi as dbapi

            try:
                self._connection = dbapi.connect(self.uri)
                self._cursor = self._connection.cursor()
                if self.mmap_bytes > 0:
                    self._cursor.execute(f"PRAGMA mmap_size={int(self.mmap_bytes)}")
                    self._cursor.fetchall()
            except Exception as err:
                self.close()
                msg = f"cannot open {self.where!r} with the ADBC SQLite driver: {err}"
                raise SourceError(msg) from err
        return self._cursor

    def close(self) -> None:
        """Close the connection (it reopens on the next read)."""
        if self._cursor is not None:
            self._cursor.close()
        if self._connection is not None:
            self._connection.close()
        self._cursor = None
        self._connection = None

    def _what(self, column: str) -> str:
        return f"column {column!r} of table {self.table.name!r} in {self.where!r}"

    def _sql(self, columns: Sequence[ColumnRead], rid: str | None, where_sql: str) -> str:
        items = [f"{self.rowid} AS {quote(rid)}"] if rid else []
        for i, col in enumerate(columns):
            name = quote(col.source)
            if col.source in self.split:
                items.append(f"CASE WHEN typeof({name}) = 'text' THEN NULL ELSE {name} END AS c{i}")
                items.append(f"CASE WHEN typeof({name}) = 'text' THEN {name} END AS t{i}")
            else:
                items.append(f"{name} AS c{i}")
        if not items:
            items = ["1"]
        sql = f"SELECT {', '.join(items)} FROM {quote(self.table.name)}"
        return f"{sql} {where_sql}" if where_sql else sql

    def _execute(self, sql: str, rows: int) -> pl.DataFrame:
        cursor = self._cursor_()
        batch = max(1, min(rows, _BATCH_LIMIT))
        try:
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(batch)})
            cursor.execute(sql)
            result = cursor.fetch_arrow_table()
        except Exception as err:
            msg = f"reading table {self.table.name!r} of {self.where!r} failed: {err}"
            raise SourceError(msg) from err
        finally:
            if self.mmap_bytes > 0:
                self.close()
        self.queries += 1
        self.last_sql = sql
        frame = pl.from_arrow(result, rechunk=False)
        if not isinstance(frame, pl.DataFrame):  # pragma: no cover - pl.from_arrow of a Table
            msg = "internal error: expected a DataFrame from Arrow"
            raise SourceError(msg)
        return frame

    def read(
        self,
        columns: Sequence[ColumnRead],
        *,
        rows: int,
        where_sql: str = "",
        rid: str | None = None,
    ) -> pl.DataFrame:
        """Run one query and convert its columns.

        Parameters
        ----------
        columns : sequence of ColumnRead
        rows : int
            An upper bound on the number of rows returned (the batch size).
        where_sql : str
            ``WHERE ...`` / ``ORDER BY ...`` text appended to the query.
        rid : str, optional
            Name to give the rowid column (first column) when wanted.
        """
        for _ in range(len(columns) + 1):
            frame = self._execute(self._sql(columns, rid, where_sql), rows)
            schema = frame.schema
            suspects = {
                col.source
                for i, col in enumerate(columns)
                if col.source not in self.split
                and schema[f"c{i}"] == pl.String
                and self.table.affinity(col.source) != "TEXT"
            }
            if not suspects:
                break
            self.split |= suspects
        out = [frame.get_column(rid)] if rid else []
        for i, col in enumerate(columns):
            text = frame.get_column(f"t{i}") if col.source in self.split else None
            if text is not None and text.dtype != pl.String:
                text = text.cast(pl.String)
            series = to_target(
                frame.get_column(f"c{i}"), col.target, what=self._what(col.source), text=text
            )
            out.append(series.alias(col.name))
        return pl.DataFrame(out)
