"""Column blocks: holistic statistics (median, MAD, quantiles) in bounded memory.

A median needs every value of its group at once; over a JUMP plate that is tens
of GB. Working on a few columns at a time bounds memory by
``rows × block width × 8 bytes × working copies`` while each block is still one
projection of a columnar source (Parquet reads only those columns' bytes). The
block width is chosen from the memory limit.

Examples
--------
>>> names = ["a", "b", "c", "d", "e"]
>>> column_blocks(names, n_rows=10_000_000, memory_limit="1GiB", resident=100 * 2**20)
[['a', 'b'], ['c', 'd'], ['e']]
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import polars as pl

from cytoplan.config import settings
from cytoplan.exceptions import StatisticsError

__all__ = [
    "WORKING_COPIES",
    "blockwise",
    "column_blocks",
    "plan_made_of",
    "resident_bytes",
    "row_count",
    "stable_row_order",
    "staged",
    "working_memory",
]

#: Copies of a block alive at once while a holistic statistic runs (the values,
#: a sorted copy, and Polars' group buffers), measured on Polars 2.1.
WORKING_COPIES = 4
_RESERVED_BYTES = 256 * 2**20  # at least: interpreter, Polars runtime, small results
_HEADROOM_BYTES = 32 * 2**20  # above what is resident: the small results, allocator slack


def resident_bytes() -> int:
    """Memory the process holds now (resident set size), in bytes."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def working_memory(memory_limit: int | str | None = None, *, resident: int | None = None) -> int:
    """Bytes a step may add to the process while keeping its peak within ``memory_limit``.

    What the process already holds is taken off the limit first: the interpreter and
    Polars (about 0.1 GiB), Polars' parsed Parquet footers (about 550 bytes per row
    group and column, 1.5 GiB for a JUMP-scale plate in small row groups) and any data
    of the caller's. At least 256 MiB is set aside, and a step always gets a quarter of
    the limit, so a limit the process has already used up slows a step down (narrower
    blocks) rather than stopping it.

    >>> working_memory("1GiB", resident=100 * 2**20) // 2**20  # 256 MiB set aside
    768
    >>> working_memory("2GiB", resident=1500 * 2**20) // 2**20  # footers take 1.5 GiB
    516
    >>> working_memory("1GiB", resident=3 * 2**30) // 2**20  # a quarter, whatever is held
    256
    """
    limit = settings(memory_limit=memory_limit).memory_limit
    held = resident_bytes() if resident is None else resident
    reserved = max(_RESERVED_BYTES, held + _HEADROOM_BYTES)
    return max(limit - reserved, limit // 4)


#: ``LazyFrame.explain()`` lines of plans whose rows come in the same order at every
#: collect: sources, projections, row filters, column expressions and ordered
#: concatenations. A join, group-by, unique or sort may reorder rows from one
#: collect to the next (Polars joins keep no order unless asked to).
_STABLE_ORDER_LINES = (
    "Parquet SCAN",
    "IPC SCAN",
    "Csv SCAN",
    "CSV SCAN",
    "NDJSON SCAN",
    "DF [",
    "PROJECT",
    "SELECTION:",
    "ESTIMATED ROWS",
    "simple π",
    "SELECT [",
    "WITH_COLUMNS:",
    "FILTER",
    "FROM",
    "[",  # the expressions of the node above
    "UNION[maintain_order: true]",
    "END UNION[maintain_order: true]",
    "PLAN ",
    "CACHE[",
    "SLICE",
)


def stable_row_order(frame: pl.LazyFrame) -> bool:
    """Whether every collect of ``frame`` gives its rows in the same order.

    Steps that read a table more than once (a column block at a time, or a fit and
    then a transform) line rows up by position only when this holds.

    >>> import polars as pl
    >>> lf = pl.LazyFrame({"k": ["a", "b"], "x": [1.0, 2.0]})
    >>> stable_row_order(lf.with_columns(y=pl.col("x") * 2).filter(pl.col("x") > 0))
    True
    >>> stable_row_order(lf.join(pl.LazyFrame({"k": ["a"]}), on="k"))
    False
    """
    return plan_made_of(frame, _STABLE_ORDER_LINES)


def plan_made_of(frame: pl.LazyFrame, kinds: tuple[str, ...]) -> bool:
    """Whether every line of ``frame``'s optimized plan starts with one of ``kinds``
    (a plan that cannot be explained is not).

    >>> import polars as pl
    >>> plan_made_of(pl.LazyFrame({"x": [1]}).select("x"), ("DF [",))
    True
    """
    try:
        plan = frame.explain()
    except pl.exceptions.PolarsError:
        return False
    lines = [line.strip() for line in plan.splitlines() if line.strip()]
    return bool(lines) and all(line.startswith(kinds) for line in lines)


@contextlib.contextmanager
def staged(frame: pl.LazyFrame) -> Iterator[pl.LazyFrame]:
    """``frame`` written once to a temporary Parquet file (streamed), as a scan of it.

    A plan whose row order changes between collects (see :func:`stable_row_order`)
    is staged before a step reads it column block by column block. The file lives
    under ``settings().temp_dir`` and is removed on exit.
    """
    folder = settings().temp_dir
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix="cytoplan-stage-") as temporary:
        path = Path(temporary) / "staged.parquet"
        frame.sink_parquet(path)
        yield pl.scan_parquet(path)


def row_count(frame: pl.LazyFrame) -> int:
    """Rows of a LazyFrame (free for Parquet: read from the footer)."""
    return int(frame.select(pl.len()).collect().item())


def column_blocks(
    columns: Sequence[str],
    n_rows: int,
    memory_limit: int | str | None = None,
    *,
    bytes_per_value: int = 8,
    resident: int | None = None,
) -> list[list[str]]:
    """Split ``columns`` into blocks whose holistic statistics fit in ``memory_limit``.

    The blocks share :func:`working_memory`: the limit less what the process holds
    (``resident``, measured when None).
    """
    usable = working_memory(memory_limit, resident=resident)
    per_column = max(n_rows, 1) * bytes_per_value * WORKING_COPIES
    width = max(1, usable // per_column)
    return [list(columns[start : start + width]) for start in range(0, len(columns), width)]


def blockwise(
    frame: pl.LazyFrame,
    columns: Sequence[str],
    compute: Callable[[pl.LazyFrame, list[str]], pl.DataFrame],
    *,
    keys: Sequence[str] = (),
    memory_limit: int | str | None = None,
    n_rows: int | None = None,
) -> pl.DataFrame:
    """Run ``compute`` on column blocks of ``frame`` and put the results side by side.

    ``compute(block_frame, block_columns)`` receives ``frame`` projected to
    ``keys + block_columns`` and returns one row per key combination (or a single row
    when there are no keys) with ``keys`` first. Results are sorted by ``keys`` (nulls
    last) and joined column-wise; every block must yield the same keys.
    """
    if n_rows is None:
        n_rows = row_count(frame)
    blocks = column_blocks(columns, n_rows, memory_limit)
    pieces: list[pl.DataFrame] = []
    for block in blocks:
        part = compute(frame.select(*keys, *block), block)
        if keys:
            part = part.sort(list(keys), nulls_last=True)
        pieces.append(part)
    if not pieces:
        return pl.DataFrame()
    first = pieces[0]
    for piece in pieces[1:]:
        if keys and not piece.select(keys).equals(first.select(keys)):
            msg = "column blocks disagree on the group keys (the source changed while it was read?)"
            raise StatisticsError(msg)
    return pl.concat([first, *(piece.drop(list(keys)) for piece in pieces[1:])], how="horizontal")
