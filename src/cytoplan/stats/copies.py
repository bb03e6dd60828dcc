"""Exact copies of columns: found from a correlation matrix, given identical rows in it.

CellProfiler output often holds the same measurement twice (``Cells_Location_Center_X``
and ``Cells_AreaShape_Center_X``, say). The correlations of two exact copies with any
third column are equal in exact arithmetic, but a streamed Gram matrix computes them at
different places of a BLAS kernel, and the batch size (so ``memory_limit``) changes
where: their last bits can differ. ``correlation_threshold`` ranks features by their
sums of ``|r|``, so the copy it dropped could change with the memory limit.

:func:`tie_exact_copies` finds the pairs whose correlation is within rounding of 1,
checks in one streaming pass which of them hold the same values on the rows used
(missing at the same places), and copies the first column's row and column of the
matrix onto every later copy: exact copies then tie exactly, at every memory limit.

>>> import numpy as np, polars as pl
>>> lf = pl.LazyFrame({"a": [1.0, 2.0, 4.0], "b": [1.0, 2.0, 4.0], "c": [3.0, 1.0, 2.0]})
>>> r = -0.5000000000000001  # b's r with c, off by one ulp from a's
>>> corr = np.array([[1.0, 1.0, -0.5], [1.0, 1.0, r], [-0.5, r, 1.0]])
>>> tie_exact_copies(lf, ["a", "b", "c"], corr)
[[0, 1]]
>>> corr.tolist()
[[1.0, 1.0, -0.5], [1.0, 1.0, -0.5], [-0.5, -0.5, 1.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["exact_copy_groups", "tie_exact_copies"]

#: A pair of exact copies has r = 1 up to the rounding of the streamed sums; pairs
#: further from 1 cannot be copies and are not checked against the data.
_COPY_TOLERANCE = 1e-9


def _candidate_pairs(corr: NDArray[np.float64]) -> list[tuple[int, int]]:
    """Pairs ``i < j`` with ``corr[i, j]`` within rounding of 1 (the upper triangle)."""
    import numpy as np

    if corr.flags.f_contiguous and not corr.flags.c_contiguous:
        corr = corr.T  # the same symmetric matrix, read in memory order
    d = corr.shape[0]
    pairs: list[tuple[int, int]] = []
    block = max(1, 2**20 // max(d, 1))  # rows of about 1 MiB of booleans at a time
    for start in range(0, d, block):
        with np.errstate(invalid="ignore"):
            near_one = corr[start : start + block, start:] >= 1.0 - _COPY_TOLERANCE
        on_diagonal = np.arange(near_one.shape[0])
        near_one[on_diagonal, on_diagonal] = False
        if not near_one.any():
            continue
        rows, cols = np.nonzero(near_one)
        upper = cols > rows
        pairs.extend(
            zip((rows[upper] + start).tolist(), (cols[upper] + start).tolist(), strict=True)
        )
    return pairs


def exact_copy_groups(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    corr: NDArray[np.float64],
    *,
    where: pl.Expr | None = None,
) -> list[list[int]]:
    """Groups of positions of ``columns`` that hold the same values on the rows used.

    Only pairs whose correlation is within rounding of 1 are checked, in one streaming
    pass over those columns (``where`` selects the rows, as for the matrix). NaN and
    null count as the same missing value; each group is sorted, groups by first member.
    """
    pairs = _candidate_pairs(corr)
    if not pairs:
        return []
    frame = lf.filter(where) if where is not None else lf
    missing_as_null = [pl.col(c).cast(pl.Float64).fill_nan(None) for c in columns]
    same = (
        frame.select(
            missing_as_null[i].eq_missing(missing_as_null[j]).all().alias(str(k))
            for k, (i, j) in enumerate(pairs)
        )
        .collect(engine="streaming")
        .row(0)
    )
    parent = list(range(len(columns)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (i, j), equal in zip(pairs, same, strict=True):
        if equal:
            first, second = sorted((root(i), root(j)))
            parent[second] = first
    groups: dict[int, list[int]] = {}
    for i in range(len(columns)):
        groups.setdefault(root(i), []).append(i)
    return [members for members in groups.values() if len(members) > 1]


def tie_exact_copies(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    corr: NDArray[np.float64],
    *,
    where: pl.Expr | None = None,
) -> list[list[int]]:
    """Give every exact copy of a column that column's row and column of ``corr``.

    ``corr`` is changed in place (and stays symmetric); within a group of copies every
    entry becomes the first member's diagonal value. Returns the groups found.
    """
    groups = exact_copy_groups(lf, columns, corr, where=where)
    for first, *later in groups:
        for member in later:
            corr[member, :] = corr[first, :]
            corr[:, member] = corr[:, first]
        for member in (first, *later):
            corr[member, [first, *later]] = corr[first, first]
    return groups
