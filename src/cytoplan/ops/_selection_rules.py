"""pycytominer 1.7.1's feature selection rules, applied to precomputed statistics.

Each rule takes the statistics of the features still kept and returns the
:class:`Drop` records of the features it removes, in feature order. The
statistics come from :mod:`cytoplan.ops._selection_stats` and
:mod:`cytoplan.stats.correlation`; the rules themselves are small and pure.

Examples
--------
>>> import numpy as np
>>> corr = np.array([[1.0, 0.95, 0.2], [0.95, 1.0, 0.1], [0.2, 0.1, 1.0]])
>>> [d.feature for d in correlation_rule(corr, ["a", "b", "c"], threshold=0.9)]
['a']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from cytoplan.exceptions import StatisticsError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "DROPPED_SCHEMA",
    "Drop",
    "blocklist_rule",
    "correlation_rule",
    "frequency_rule",
    "na_rule",
    "noise_rule",
    "outlier_rule",
    "variance_rule",
]

#: the schema of ``FeatureSelector.dropped_``
DROPPED_SCHEMA = pl.Schema(
    {
        "feature": pl.String,
        "operation": pl.String,
        "statistic": pl.String,
        "value": pl.Float64,
        "threshold": pl.Float64,
        "partner": pl.String,
        "reason": pl.String,
    }
)


@dataclass(frozen=True)
class Drop:
    """One dropped feature: which operation dropped it, on which statistic, and why."""

    feature: str
    operation: str
    statistic: str
    value: float | None
    threshold: float | None
    reason: str
    partner: str | None = None


def _g(value: float | None) -> str:
    return "missing" if value is None else f"{value:.6g}"


def variance_rule(summaries: pl.DataFrame, *, min_variance: float) -> list[Drop]:
    """Population variance (NaN skipped) not above ``min_variance`` → drop (sklearn's rule).

    With ``min_variance == 0`` the variance of a column without missing values is
    ``min(variance, max - min)`` so that constant columns are exactly 0. All-missing
    columns are dropped; infinite values raise; dropping every feature raises.
    """
    infinite = summaries.filter(pl.col("n_infinite") > 0)["feature"].to_list()
    if infinite:
        msg = (
            f"variance_threshold: feature(s) hold infinite values: {', '.join(infinite[:10])}"
            f"{' ...' if len(infinite) > 10 else ''}; replace them (e.g. with null) or run "
            "drop_outliers first"
        )
        raise StatisticsError(msg)
    drops: list[Drop] = []
    kept = 0
    for row in summaries.iter_rows(named=True):
        variance = row["var"]
        if min_variance == 0 and variance is not None and row["n_missing"] == 0:
            variance = min(variance, row["max"] - row["min"])
        if variance is not None and variance > min_variance:
            kept += 1
            continue
        drops.append(
            Drop(
                row["feature"],
                "variance_threshold",
                "variance",
                variance,
                float(min_variance),
                f"variance {_g(variance)} <= min_variance {min_variance:g}",
            )
        )
    if summaries.height and not kept:
        msg = (
            f"variance_threshold: no feature has a variance above min_variance={min_variance:g} "
            f"({summaries.height} feature(s) on {summaries['n_rows'][0]} reference row(s)); "
            "lower min_variance or check the reference rows"
        )
        raise StatisticsError(msg)
    return drops


def frequency_rule(
    counts: pl.DataFrame, *, n_rows: int, freq_cut: float, unique_cut: float
) -> list[Drop]:
    """2nd/1st most common value count below ``freq_cut`` OR distinct/rows below ``unique_cut``."""
    drops: list[Drop] = []
    for row in counts.iter_rows(named=True):
        ratio = row["second"] / row["first"] if row["n_unique"] >= 2 else 0.0
        unique = row["n_unique"] / n_rows
        if ratio < freq_cut:
            drops.append(
                Drop(
                    row["feature"],
                    "frequency_threshold",
                    "frequency_ratio",
                    ratio,
                    freq_cut,
                    f"2nd/1st most common value count {ratio:.6g} < freq_cut {freq_cut:g}",
                )
            )
        elif unique < unique_cut:
            drops.append(
                Drop(
                    row["feature"],
                    "frequency_threshold",
                    "unique_ratio",
                    unique,
                    unique_cut,
                    f"distinct values / rows {unique:.6g} < unique_cut {unique_cut:g}",
                )
            )
    return drops


def na_rule(summaries: pl.DataFrame, *, na_cutoff: float) -> list[Drop]:
    """Proportion of missing values (null or NaN) above ``na_cutoff`` → drop."""
    drops: list[Drop] = []
    for row in summaries.iter_rows(named=True):
        share = row["n_missing"] / row["n_rows"]
        if share > na_cutoff:
            drops.append(
                Drop(
                    row["feature"],
                    "drop_na_columns",
                    "missing_share",
                    share,
                    na_cutoff,
                    f"{share:.6g} of values missing > na_cutoff {na_cutoff:g}",
                )
            )
    return drops


def outlier_rule(summaries: pl.DataFrame, *, outlier_cutoff: float) -> list[Drop]:
    """``|max|`` or ``|min|`` above ``outlier_cutoff`` → drop (missing values skipped)."""
    drops: list[Drop] = []
    for row in summaries.iter_rows(named=True):
        extremes = [abs(v) for v in (row["max"], row["min"]) if v is not None]
        largest = max(extremes) if extremes else None
        if largest is not None and largest > outlier_cutoff:
            drops.append(
                Drop(
                    row["feature"],
                    "drop_outliers",
                    "max_abs",
                    largest,
                    outlier_cutoff,
                    f"max |value| {largest:.6g} > outlier_cutoff {outlier_cutoff:g}",
                )
            )
    return drops


def noise_rule(spread: pl.DataFrame, *, stdev_cutoff: float) -> list[Drop]:
    """Mean within-group population SD above ``stdev_cutoff`` → drop."""
    drops: list[Drop] = []
    for row in spread.iter_rows(named=True):
        value = row["mean_sd"]
        if value is not None and value > stdev_cutoff:
            drops.append(
                Drop(
                    row["feature"],
                    "noise_removal",
                    "mean_group_sd",
                    value,
                    stdev_cutoff,
                    f"mean within-group SD {value:.6g} > noise_removal_stdev_cutoff "
                    f"{stdev_cutoff:g}",
                )
            )
    return drops


def blocklist_rule(blocked: Sequence[str], columns: Sequence[str]) -> list[Drop]:
    """Every column of the table (feature or not) that is named in the blocklist."""
    wanted = set(blocked)
    return [
        Drop(name, "blocklist", "blocklisted", None, None, "named in the blocklist")
        for name in columns
        if name in wanted
    ]


def _row_block(d: int) -> int:
    """Rows of a ``d``-column float64 matrix in about 1 MiB (at least 16)."""
    return max(16, 2**20 // (8 * max(d, 1)))


def _abs_sums(corr: NDArray[np.float64]) -> NDArray[np.float64]:
    """Column sums of |r| (NaN skipped), accumulated over blocks of rows."""
    import numpy as np

    d = corr.shape[0]
    block = _row_block(d)
    sums = np.zeros(d)
    magnitudes = np.empty((min(block, d), d))  # reused: no fresh pages per block
    for start in range(0, d, block):
        rows = corr[start : start + block]
        magnitude = np.abs(rows, out=magnitudes[: rows.shape[0]])
        partial = magnitude.sum(axis=0)
        if np.isnan(partial).any():  # a NaN makes its column's sum NaN: sum without it
            np.nan_to_num(magnitude, copy=False, nan=0.0)
            partial = magnitude.sum(axis=0)
        sums += partial
    return sums


def correlation_rule(
    corr: NDArray[np.float64], features: Sequence[str], *, threshold: float
) -> list[Drop]:
    """pycytominer's pair rule, vectorised row by row.

    Features are ranked by the sum of their absolute correlations (NaN skipped, the
    diagonal included), ascending, with NumPy's quicksort as pandas'
    ``sort_values`` uses. Every pair with a **signed** correlation above
    ``threshold`` drops the member ranked later, independently of the other pairs.
    Each drop records its strongest such partner (the lowest-numbered one on ties:
    the first such pair of the lower triangle in row-major order, as pycytominer
    lists pairs).

    ``corr`` is symmetric, so feature ``i`` is dropped when row ``i`` has an entry
    above ``threshold`` in a column ranked before ``i``: no list of pairs is built
    (there can be millions). Rows are read in blocks of about 1 MiB, which the
    passes over a block then find in cache, and a column-major matrix through its
    transpose (the same values, in memory order). Only rows with an entry above
    ``threshold`` off the diagonal go through the rank test: 18 ms at 3,000 features
    and 85 ms at 6,000 (the ``make_profiles`` tables, a third of whose features are
    near copies), against 24 and 98 ms testing every row (session 17's machine).
    """
    import numpy as np

    d = len(features)
    if d < 2:
        return []
    if corr.flags.f_contiguous and not corr.flags.c_contiguous:
        corr = corr.T
    block = _row_block(d)
    order = np.argsort(_abs_sums(corr), kind="quicksort")
    rank = np.empty(d, dtype=np.intp)
    rank[order] = np.arange(d)
    drops: list[Drop] = []
    for start in range(0, d, block):
        tile = corr[start : start + block]
        with np.errstate(invalid="ignore"):
            hit = tile > threshold
        local = np.arange(hit.shape[0])
        hit[local, start + local] = False  # a feature is not its own partner
        rows = np.flatnonzero(hit.any(axis=1))
        if rows.size == 0:
            continue
        hit = hit[rows]
        hit &= rank[None, :] < rank[start + rows, None]  # the partner ranks first
        ranked_later = hit.any(axis=1)
        rows, hit = rows[ranked_later], hit[ranked_later]
        if rows.size == 0:
            continue
        partners = np.where(hit, tile[rows], -np.inf).argmax(axis=1)  # first maximum
        for row, j in zip(rows.tolist(), partners.tolist(), strict=True):
            r, partner = float(tile[row, j]), features[j]
            reason = f"r = {r:.6g} > {threshold:g} with {partner}, which has the lower total |r|"
            drops.append(
                Drop(
                    features[start + row],
                    "correlation_threshold",
                    "correlation",
                    r,
                    threshold,
                    reason,
                    partner=partner,
                )
            )
    return drops
