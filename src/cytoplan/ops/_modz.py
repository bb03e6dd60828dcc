"""MODZ consensus weights and signatures in NumPy, vectorised over replicate groups.

pycytominer's ``modz_base`` (spec §2.4), for each replicate group (k rows × d
features):

1. correlate the replicates with each other across features (Spearman by default,
   Pearson or Kendall's tau-b optionally); with missing values, pandas'
   pairwise-complete rules;
2. set the diagonal to NaN, clip negative correlations to 0;
3. raw weight = mean of a replicate's correlations with the others (NaN skipped),
   clipped below at ``min_weight``;
4. weights = raw / Σ raw, or 1/k each when Σ raw is 0 (a single replicate); rounded
   to ``precision`` decimals;
5. signature = Σ w_j x_j, where a missing value (or a NaN weight) contributes 0.

Groups of equal size without missing values are stacked into one ``(G, k, d)`` array
and handled together; groups with missing values go through the exact pairwise path.
This module imports NumPy, so it is only imported when MODZ runs.

Examples
--------
>>> import numpy as np
>>> block = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 4.0, 3.0], [4.0, 3.0, 2.0, 1.0]])
>>> modz_weights(block[None], method="spearman", min_weight=0.01, precision=4)
array([[0.4938, 0.4938, 0.0123]])
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Literal, TypeAlias

import numpy as np
from scipy.stats import kendalltau, rankdata

from cytoplan._typing import CorrelationMethod

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "KendallRounding",
    "ModzMethod",
    "modz_signatures",
    "modz_weights",
    "pairwise_correlation",
]

ModzMethod: TypeAlias = CorrelationMethod
#: How Kendall's tau-b ``S / sqrt((P - Tx)(P - Ty))`` is rounded: ``"scipy"`` divides by
#: the two square roots in turn (``scipy.stats.kendalltau``, which pandas 2 calls),
#: ``"single"`` by the square root of the product (pandas 3's own kernel). They can
#: differ in the last bit, enough to tip a MODZ weight sitting on a rounding boundary.
KendallRounding: TypeAlias = Literal["scipy", "single"]


def _stacked_correlation(blocks: NDArray[np.float64], method: ModzMethod) -> NDArray[np.float64]:
    """Correlation matrices of finite ``(G, k, d)`` blocks (replicates × features),
    with pycytominer's arithmetic, so weights on a rounding boundary round alike."""
    d = blocks.shape[-1]
    if method == "spearman":
        # pandas' nancorr_spearman fast path: average ranks centred on (d + 1) / 2, then
        # sum_xy / sqrt(sum_xx * sum_yy); ranks and their products are exact, so are the sums
        ranks = rankdata(blocks, axis=-1, method="average") - (d + 1) / 2.0
        cross = ranks @ np.swapaxes(ranks, -1, -2)
        squares = np.diagonal(cross, axis1=-2, axis2=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            spearman: NDArray[np.float64] = cross / np.sqrt(
                squares[..., :, None] * squares[..., None, :]
            )
        return spearman
    # pycytominer calls np.corrcoef on each group's complete block
    return np.stack([np.atleast_2d(np.corrcoef(block)) for block in blocks])


def pairwise_correlation(
    block: NDArray[np.float64], method: ModzMethod, kendall_rounding: KendallRounding = "scipy"
) -> NDArray[np.float64]:
    """pandas ``DataFrame.corr`` between the rows of one ``(k, d)`` block.

    Pairwise-complete: each pair uses the features where both values are finite.
    Pearson follows pandas' ``nancorr`` step by step (:func:`_nancorr`). For
    Spearman, values are re-ranked over those features when the two rows' missing
    patterns differ (as pandas does). No shared value, or no spread, gives NaN.
    """
    if method == "pearson":
        pearson: NDArray[np.float64] = _nancorr(block[None])[0]
        return pearson
    if method == "kendall":
        return _kendall(block, kendall_rounding)
    k = block.shape[0]
    finite = np.isfinite(block)
    corr = np.full((k, k), np.nan)
    own_ranks = [_ranks_of_finite(row, mask) for row, mask in zip(block, finite, strict=True)]
    for i in range(k):
        for j in range(i + 1):
            both = finite[i] & finite[j]
            n = int(both.sum())
            if n < 1:
                continue
            if np.array_equal(finite[i], finite[j]):
                x, y = own_ranks[i], own_ranks[j]
            else:
                x, y = rankdata(block[i, both]), rankdata(block[j, both])
            x = x - (n + 1) / 2.0
            y = y - (n + 1) / 2.0
            divisor = np.sqrt(np.dot(x, x) * np.dot(y, y))
            if divisor != 0:
                corr[i, j] = corr[j, i] = np.dot(x, y) / divisor
    return corr


def _kendall(
    block: NDArray[np.float64], rounding: KendallRounding = "scipy"
) -> NDArray[np.float64]:
    """Kendall's tau-b between the rows of one ``(k, d)`` block, as pandas computes it:
    each pair over the features where both values are finite, NaN without a shared
    value or when a row is constant there (the diagonal is left NaN: MODZ drops it).
    """
    k = block.shape[0]
    finite = np.isfinite(block)
    corr = np.full((k, k), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant rows: NaN, as pandas
        for i in range(k):
            for j in range(i):
                both = finite[i] & finite[j]
                if both.any():
                    corr[i, j] = corr[j, i] = _tau_b(block[i, both], block[j, both], rounding)
    return corr


def _tau_b(x: NDArray[np.float64], y: NDArray[np.float64], rounding: KendallRounding) -> float:
    """SciPy's tau-b, or the same statistic divided once (see :data:`KendallRounding`).

    SciPy does not return ``S`` (concordant minus discordant pairs), but it is an
    integer: rounding ``tau * sqrt(P - Tx) * sqrt(P - Ty)`` recovers it exactly (the
    product's error is ~1e-15 relative, far below 0.5 for any feasible ``P``).
    """
    tau = float(kendalltau(x, y).statistic)
    if rounding == "scipy" or not np.isfinite(tau):
        return tau
    pairs = x.size * (x.size - 1) // 2
    untied_x = pairs - _tied_pairs(x)
    untied_y = pairs - _tied_pairs(y)
    s = round(tau * math.sqrt(untied_x) * math.sqrt(untied_y))
    return s / math.sqrt(float(untied_x) * float(untied_y))


def _tied_pairs(values: NDArray[np.float64]) -> int:
    counts = np.unique(values, return_counts=True)[1]
    return int((counts * (counts - 1) // 2).sum())


def _nancorr(blocks: NDArray[np.float64]) -> NDArray[np.float64]:
    """pandas' ``nancorr`` (Pearson, pairwise-complete) for ``(G, k, d)`` blocks.

    The same Welford updates, feature by feature in order, for every pair of rows of
    every group at once: bit for bit pandas' values (a plain two-pass formula differs
    in the last bits, which can tip a rounded MODZ weight, and leaves a constant row a
    spread of 1e-17 where pandas' running mean gives exactly none).
    """
    n_groups, k, d = blocks.shape
    left, right = np.tril_indices(k)
    finite = np.isfinite(blocks)
    shape = (n_groups, left.size)
    nobs = np.zeros(shape)
    mean_x, mean_y = np.zeros(shape), np.zeros(shape)
    ssq_x, ssq_y, cov = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for t in range(d):
            both = finite[:, left, t] & finite[:, right, t]
            if not both.any():
                continue
            vx, vy = blocks[:, left, t], blocks[:, right, t]
            nobs = nobs + both
            dx, dy = vx - mean_x, vy - mean_y
            step = 1.0 / nobs
            mean_x = np.where(both, mean_x + step * dx, mean_x)
            mean_y = np.where(both, mean_y + step * dy, mean_y)
            ssq_x = np.where(both, ssq_x + (vx - mean_x) * dx, ssq_x)
            ssq_y = np.where(both, ssq_y + (vy - mean_y) * dy, ssq_y)
            cov = np.where(both, cov + (vx - mean_x) * dy, cov)
        divisor = np.sqrt(ssq_x * ssq_y)
        value = np.clip(cov / divisor, -1.0, 1.0)
    value = np.where((nobs >= 1) & (divisor != 0), value, np.nan)
    corr = np.empty((n_groups, k, k))
    corr[:, left, right] = value
    corr[:, right, left] = value
    return corr


def _ranks_of_finite(row: NDArray[np.float64], finite: NDArray[np.bool_]) -> NDArray[np.float64]:
    """The finite values' ranks as pandas ranks a column: among every value but NaN
    (an infinite value takes a rank too), so they need not run from 1."""
    present = ~np.isnan(row)
    ranks = np.full(row.shape, np.nan)
    ranks[present] = rankdata(row[present])
    return ranks[finite]


def _row_means_in_order(corr: NDArray[np.float64]) -> NDArray[np.float64]:
    """NaN-skipping means of each row, summed left to right as pandas'
    ``DataFrame.mean(axis=1)`` sums its column-major block (NumPy's own ``nanmean``
    sums 8 at a time from 8 values on: last bits that can tip a rounded weight)."""
    present = ~np.isnan(corr)
    total = np.zeros(corr.shape[:-1])
    for j in range(corr.shape[-1]):
        total = total + np.where(present[..., j], corr[..., j], 0.0)
    count = present.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        means: NDArray[np.float64] = np.where(count > 0, total / count, np.nan)
    return means


def _weights_from_correlation(
    corr: NDArray[np.float64], *, min_weight: float, precision: int
) -> NDArray[np.float64]:
    """MODZ weights ``(G, k)`` from correlation matrices ``(G, k, k)``."""
    corr = corr.copy()
    k = corr.shape[-1]
    index = np.arange(k)
    corr[..., index, index] = np.nan
    corr = np.where(corr < 0, 0.0, corr)  # clip(lower=0); NaN stays NaN
    raw = _row_means_in_order(corr)
    raw = np.where(raw < min_weight, min_weight, raw)  # NaN stays NaN
    total = np.nansum(raw, axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(total == 0, 1.0 / k, raw / total)
    rounded: NDArray[np.float64] = np.round(weights, precision)
    return rounded


def modz_weights(
    blocks: NDArray[np.float64],
    *,
    method: ModzMethod,
    min_weight: float,
    precision: int,
    kendall_rounding: KendallRounding = "scipy",
) -> NDArray[np.float64]:
    """MODZ weights for ``G`` groups of ``k`` replicates: ``(G, k, d)`` → ``(G, k)``."""
    n_groups = blocks.shape[0]
    corr = np.empty((n_groups, blocks.shape[1], blocks.shape[1]))
    # Kendall has no stacked form: every group goes pair by pair, as pandas does
    finite = np.isfinite(blocks).all(axis=(1, 2)) & (method != "kendall")
    if finite.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            corr[finite] = _stacked_correlation(blocks[finite], method)
    incomplete = np.flatnonzero(~finite)
    if method == "pearson" and incomplete.size:
        corr[incomplete] = _nancorr(blocks[incomplete])
    elif method != "pearson":
        for g in incomplete:
            corr[g] = pairwise_correlation(blocks[g], method, kendall_rounding)
    return _weights_from_correlation(corr, min_weight=min_weight, precision=precision)


def modz_signatures(
    values: NDArray[np.float64],
    group_sizes: NDArray[np.int64],
    *,
    method: ModzMethod,
    min_weight: float,
    precision: int,
    kendall_rounding: KendallRounding = "scipy",
) -> NDArray[np.float64]:
    """One MODZ signature per group.

    ``values`` holds the rows of every group one group after the other (``n × d``;
    well-level profiles, not single cells), ``group_sizes`` the number of rows of
    each group in that order. Returns ``(n_groups, d)``.
    """
    n_groups = group_sizes.shape[0]
    d = values.shape[1]
    out = np.empty((n_groups, d))
    starts = np.concatenate([[0], np.cumsum(group_sizes)[:-1]]).astype(np.int64)
    for k in np.unique(group_sizes):
        which = np.flatnonzero(group_sizes == k)
        rows = (starts[which][:, None] + np.arange(k)[None, :]).ravel()
        blocks = values[rows].reshape(which.size, int(k), d)
        weights = modz_weights(
            blocks,
            method=method,
            min_weight=min_weight,
            precision=precision,
            kendall_rounding=kendall_rounding,
        )
        weighted = blocks * weights[:, :, None]
        out[which] = np.nansum(weighted, axis=1)  # a NaN value or weight contributes 0
    return out
