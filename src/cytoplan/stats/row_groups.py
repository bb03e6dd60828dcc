"""Parquet row groups against the memory of a stream of rows.

A row group is the smallest piece a Parquet reader decodes (Polars' and PyArrow's
both): reading a slice of rows decodes every row group it touches, for every column
asked for. Streams that pull a file by rows in bounded slices therefore hold at least
one row group's columns at once, whatever ``memory_limit`` says. The files cytoplan
writes have short row groups; Polars writes 262,144-row groups by default and PyArrow
up to 1,048,576, so a profile table written by another tool can hold gigabytes in one.

:func:`warn_if_row_groups_exceed` says so, naming the file and what to do, before such
a stream starts.

>>> import polars as pl, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "wells.parquet"
>>> pl.DataFrame({"x": [1.0] * 10}).write_parquet(path, row_group_size=4)
>>> longest_row_group(str(path))
4
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import polars as pl

from cytoplan.exceptions import MemoryLimitWarning
from cytoplan.stats.blocks import row_count

__all__ = ["longest_row_group", "parquet_scan_path", "warn_if_row_groups_exceed"]

# "Parquet SCAN [path]", "[a, b]" or "[first path, ... 2 other sources]"
_SCAN = re.compile(r"^Parquet SCAN \[(?P<path>.+?)(?:, \.\.\. \d+ other sources?)?\]$")


def parquet_scan_path(lf: pl.LazyFrame) -> str | None:
    """The (first) file a plan's Parquet scan reads, when it is a local path."""
    try:
        plan = lf.explain()
    except pl.exceptions.PolarsError:
        return None
    for line in plan.splitlines():
        match = _SCAN.match(line.strip())
        if match is None or "://" in match["path"]:
            continue
        listed = match["path"]  # a few sources are listed in full, comma-separated
        for candidate in (listed, listed.split(", ")[0]):
            if Path(candidate).is_file():
                return candidate
    return None


def longest_row_group(path: str) -> int | None:
    """Rows in the longest row group of a local Parquet file (None if it cannot be read)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except (OSError, ValueError):
        return None
    return max((meta.row_group(i).num_rows for i in range(meta.num_row_groups)), default=0)


def warn_if_row_groups_exceed(
    lf: pl.LazyFrame, width: int, budget: int, *, n_rows: int | None = None
) -> None:
    """Warn when one row group of ``lf``'s file, over ``width`` float64 columns, is more
    than ``budget`` bytes: a stream of its rows will hold that much at once.

    ``n_rows``, the table's rows, is counted when not given."""
    path = parquet_scan_path(lf)
    if path is None:
        return
    # no row group is longer than the table (a count Polars takes from the footer it
    # holds); only a larger table has its footer read again for the row groups
    if n_rows is None:
        n_rows = row_count(lf)
    if n_rows * width * 8 <= budget:
        return
    rows = longest_row_group(path)
    if not rows or rows * width * 8 <= budget:
        return
    gib = rows * width * 8 / 2**30
    msg = (
        f"{path} has row groups of up to {rows:,} rows, {gib:.2f} GiB over these {width:,} "
        f"columns; a row group is the least a Parquet reader decodes, so reading it by rows "
        f"holds more than the {budget / 2**30:.2f} GiB the memory limit leaves. Stage it with "
        "`cytoplan convert` (row groups sized for streaming) to stay within the limit."
    )
    warnings.warn(msg, MemoryLimitWarning, stacklevel=4)
