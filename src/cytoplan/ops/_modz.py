"""MODZ consensus weights and signatures in NumPy, vectorised over replicate groups.

pycytominer's ``modz_base`` (spec §2.4), for each replicate group (k rows × d
features):

1. correlate the replicates with each other across features (Spearman by default,
   Pearson optionally); with missing values, pandas' pairwise-complete rules;
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

import warnings
from typing import TYPE_CHECKING, Literal, TypeAlias

import numpy as np
from scipy.stats import rankdata

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["ModzMethod", "modz_signatures", "modz_weights", "pairwise_correlation"]

ModzMethod: TypeAlias = Literal["spearman", "pearson"]


def _corr_from_centered(centered: NDArray[np.float64], *, clip: bool) -> NDArray[np.float64]:
    """Correlations between the rows of each ``(k, d)`` slice of centred data."""
    cross = centered @ np.swapaxes(centered, -1, -2)
    diagonal = np.sqrt(np.diagonal(cross, axis1=-2, axis2=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cross / diagonal[..., :, None] / diagonal[..., None, :]
    if clip:  # np.corrcoef clips to [-1, 1]
        np.clip(corr, -1.0, 1.0, out=corr)
    return corr


def _stacked_correlation(blocks: NDArray[np.float64], method: ModzMethod) -> NDArray[np.float64]:
    """Correlation matrices of finite ``(G, k, d)`` blocks (replicates × features)."""
    d = blocks.shape[-1]
    if method == "spearman":
        # pandas' nancorr_spearman fast path: average ranks centred on (d + 1) / 2
        ranks = rankdata(blocks, axis=-1, method="average")
        return _corr_from_centered(ranks - (d + 1) / 2.0, clip=False)
    # np.corrcoef: centre on the mean, divide by the standard deviations, clip
    centered = blocks - blocks.mean(axis=-1, keepdims=True)
    return _corr_from_centered(centered, clip=True)


def pairwise_correlation(block: NDArray[np.float64], method: ModzMethod) -> NDArray[np.float64]:
    """pandas ``DataFrame.corr`` between the rows of one ``(k, d)`` block.

    Pairwise-complete: each pair uses the features where both values are finite. For
    Spearman, values are re-ranked over those features when the two rows' missing
    patterns differ (as pandas does). Fewer than one shared value, or a constant row,
    gives NaN.
    """
    k = block.shape[0]
    finite = np.isfinite(block)
    corr = np.full((k, k), np.nan)
    own_ranks = None
    if method == "spearman":
        own_ranks = [rankdata(row[mask]) for row, mask in zip(block, finite, strict=True)]
    for i in range(k):
        for j in range(i + 1):
            both = finite[i] & finite[j]
            n = int(both.sum())
            if n < 1:
                continue
            if method == "spearman":
                assert own_ranks is not None
                if np.array_equal(finite[i], finite[j]):
                    x, y = own_ranks[i], own_ranks[j]
                else:
                    x, y = rankdata(block[i, both]), rankdata(block[j, both])
                x = x - (n + 1) / 2.0
                y = y - (n + 1) / 2.0
            else:
                x = block[i, both]
                y = block[j, both]
                x = x - x.mean()
                y = y - y.mean()
            divisor = np.sqrt(np.dot(x, x) * np.dot(y, y))
            if divisor != 0:
                corr[i, j] = corr[j, i] = np.dot(x, y) / divisor
    return corr


def _weights_from_correlation(
    corr: NDArray[np.float64], *, min_weight: float, precision: int
) -> NDArray[np.float64]:
    """MODZ weights ``(G, k)`` from correlation matrices ``(G, k, k)``."""
    corr = corr.copy()
    k = corr.shape[-1]
    index = np.arange(k)
    corr[..., index, index] = np.nan
    corr = np.where(corr < 0, 0.0, corr)  # clip(lower=0); NaN stays NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (k == 1)
        raw = np.nanmean(corr, axis=-1)
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
) -> NDArray[np.float64]:
    """MODZ weights for ``G`` groups of ``k`` replicates: ``(G, k, d)`` → ``(G, k)``."""
    n_groups = blocks.shape[0]
    corr = np.empty((n_groups, blocks.shape[1], blocks.shape[1]))
    finite = np.isfinite(blocks).all(axis=(1, 2))
    if finite.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            corr[finite] = _stacked_correlation(blocks[finite], method)
    for g in np.flatnonzero(~finite):
        corr[g] = pairwise_correlation(blocks[g], method)
    return _weights_from_correlation(corr, min_weight=min_weight, precision=precision)


def modz_signatures(
    values: NDArray[np.float64],
    group_sizes: NDArray[np.int64],
    *,
    method: ModzMethod,
    min_weight: float,
    precision: int,
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
        weights = modz_weights(blocks, method=method, min_weight=min_weight, precision=precision)
        weighted = blocks * weights[:, :, None]
        out[which] = np.nansum(weighted, axis=1)  # a NaN value or weight contributes 0
    return out
