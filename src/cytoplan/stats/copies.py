"""Exact copies of columns: found from a correlation matrix, given identical rows in it.

CellProfiler output often holds the same measurement twice (``Cells_Location_Center_X``
and ``Cells_AreaShape_Center_X``, say). The correlations of two exact copies with any
third column are equal in exact arithmetic, but a streamed Gram matrix computes them at
different places of a BLAS kernel, and the batch size (so ``memory_limit``) changes
where: their last bits can differ. ``correlation_threshold`` ranks features by their
sums of ``|r|``, so the copy it dropped could change with the memory limit.

:func:`tie_exact_copies` finds the columns whose correlations are within rounding of 1,
checks in a streaming pass which of them hold the same values on the rows used
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

from cytoplan.stats.holistic import missing_as_null

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["exact_copy_groups", "tie_exact_copies"]

#: A pair of exact copies has r = 1 up to the rounding of the streamed sums; pairs
#: further from 1 cannot be copies and are not checked against the data.
_COPY_TOLERANCE = 1e-9


def _candidate_sets(corr: NDArray[np.float64]) -> list[list[int]]:
    """Columns linked by correlations within rounding of 1, as sorted sets of two or more.

    Exact copies are pairwise within rounding of 1, so each set of copies lies within
    one of these (which can also hold near copies: an affine copy, say). The upper
    triangle is compared in row blocks of about 1 MiB of booleans.
    """
    import numpy as np

    if corr.flags.f_contiguous and not corr.flags.c_contiguous:
        corr = corr.T  # the same symmetric matrix, read in memory order
    d = corr.shape[0]
    linked: list[tuple[NDArray[np.intp], NDArray[np.intp]]] = []
    block = max(1, 2**20 // max(d, 1))
    for start in range(0, d, block):
        with np.errstate(invalid="ignore"):
            near_one = corr[start : start + block, start:] >= 1.0 - _COPY_TOLERANCE
        on_diagonal = np.arange(near_one.shape[0])
        near_one[on_diagonal, on_diagonal] = False
        if near_one.any():
            rows, cols = np.nonzero(near_one)
            linked.append((rows + start, cols + start))
    if not linked:
        return []
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows = np.concatenate([r for r, _ in linked])
    cols = np.concatenate([c for _, c in linked])
    graph = coo_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(d, d))
    _, labels = connected_components(graph, directed=False)
    sets: dict[int, list[int]] = {}
    for column, label in enumerate(labels.tolist()):
        sets.setdefault(label, []).append(column)
    return [members for members in sets.values() if len(members) > 1]


def _same_fingerprint(
    frame: pl.LazyFrame, values: list[pl.Expr], sets: list[list[int]]
) -> list[list[int]]:
    """``sets`` split by each column's missing count, minimum and maximum (exact, in any
    order of summation), in one streaming pass: an affine copy of a column, with its
    correlation of 1, then falls in another set without a comparison of its own."""
    members = [column for members in sets for column in members]
    if not members:
        return []
    stats = (
        frame.select(
            pl.struct(
                values[column].null_count().alias("missing"),
                values[column].min().alias("min"),
                values[column].max().alias("max"),
            ).alias(str(column))
            for column in members
        )
        .collect(engine="streaming")
        .row(0)
    )
    fingerprint = dict(zip(members, (tuple(stat.values()) for stat in stats), strict=True))
    split: list[list[int]] = []
    for columns in sets:
        alike: dict[tuple[object, ...], list[int]] = {}
        for column in columns:
            alike.setdefault(fingerprint[column], []).append(column)
        split.extend(same for same in alike.values() if len(same) > 1)
    return split


def exact_copy_groups(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    corr: NDArray[np.float64],
    *,
    where: pl.Expr | None = None,
) -> list[list[int]]:
    """Groups of positions of ``columns`` that hold the same values on the rows used.

    Only columns linked by correlations within rounding of 1 are compared: first their
    missing counts, minima and maxima, then each column with the first one of its set
    that agrees on those, in one streaming pass over them (``where`` selects the rows,
    as for the matrix); columns that still differ form a new set for another pass. So a
    pass has fewer comparisons than columns, however many copies there are (a pair by
    pair check of 400 copies of one column took 5 s). NaN and
    null count as the same missing value; groups are sorted, and ordered by first member.
    """
    frame = lf.filter(where) if where is not None else lf
    schema = lf.collect_schema()
    values = [missing_as_null(c, schema[c]) for c in columns]
    pending = _same_fingerprint(frame, values, _candidate_sets(corr))
    groups: list[list[int]] = []
    while pending:
        checks = [(first, other) for first, *others in pending for other in others]
        same = (
            frame.select(
                values[first].eq_missing(values[other]).all().alias(str(k))
                for k, (first, other) in enumerate(checks)
            )
            .collect(engine="streaming")
            .row(0)
        )
        equal = {check for check, verdict in zip(checks, same, strict=True) if verdict}
        still_pending = []
        for first, *others in pending:
            copies = [first, *(other for other in others if (first, other) in equal)]
            rest = [other for other in others if (first, other) not in equal]
            if len(copies) > 1:
                groups.append(copies)
            if len(rest) > 1:
                still_pending.append(rest)
        pending = still_pending
    return sorted(groups)


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
