"""The vectorised correlation pair rule against a plain loop over the pairs.

pycytominer's rule (spec §2, ``correlation_threshold``): rank features by their sum of
absolute correlations, ascending; every lower-triangle pair with a signed correlation
above the threshold drops the member ranked later; each drop records its strongest
such partner, the first such pair in row-major order on ties. The reference below is
that sentence as a loop; the rule must agree on every matrix, including copies
(exact ties), negated copies, constant features (NaN rows) and negative thresholds.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cytoplan.ops._selection_rules import _abs_sums, correlation_rule
from cytoplan.stats.correlation import pearson


def _reference(corr: np.ndarray, features: list[str], threshold: float) -> list[tuple]:
    d = len(features)
    order = np.argsort(_abs_sums(np.ascontiguousarray(corr)), kind="quicksort")
    rank = np.empty(d, dtype=int)
    rank[order] = np.arange(d)
    strongest: dict[int, tuple[float, int]] = {}
    for i in range(d):  # row-major over the lower triangle
        for j in range(i):
            r = corr[i, j]
            if not r > threshold:
                continue
            dropped, partner = (i, j) if rank[i] > rank[j] else (j, i)
            if dropped not in strongest or r > strongest[dropped][0]:
                strongest[dropped] = (r, partner)
    return [
        (features[k], float(strongest[k][0]), features[strongest[k][1]]) for k in sorted(strongest)
    ]


def _matrix(seed: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(5, 50)), int(rng.integers(2, 30))
    values = rng.standard_normal((n, d))
    for _ in range(int(rng.integers(0, d))):
        a, b = rng.integers(0, d, 2)
        values[:, a] = values[:, b] * rng.choice([1.0, -1.0, 2.0])
    if rng.random() < 0.3:
        values[:, rng.integers(0, d)] = 1.0  # constant: a row and column of NaN
    if rng.random() < 0.3:
        values = np.round(values, 1)  # more exact ties
    features = [f"f{i}" for i in range(d)]
    frame = pl.LazyFrame(values, schema=features, orient="row")
    return pearson(frame, features), features


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("threshold", [0.9, 0.5, -0.2])
def test_rule_matches_the_pair_loop(seed: int, threshold: float) -> None:
    corr, features = _matrix(seed)
    got = [
        (drop.feature, drop.value, drop.partner)
        for drop in correlation_rule(corr, features, threshold=threshold)
    ]
    assert got == _reference(corr, features, threshold)


def test_column_major_and_row_major_matrices_give_the_same_drops() -> None:
    corr, features = _matrix(7)
    assert corr.flags.f_contiguous
    rows = correlation_rule(np.ascontiguousarray(corr), features, threshold=0.5)
    columns = correlation_rule(corr, features, threshold=0.5)
    assert rows == columns and rows


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
@pytest.mark.parametrize("seed", range(6))
def test_matrices_are_exactly_symmetric(method: str, seed: int) -> None:
    """The row-by-row rule reads each pair once per row: it needs r[i, j] == r[j, i]."""
    from cytoplan.stats.correlation import correlation_matrix

    rng = np.random.default_rng(seed)
    values = rng.standard_normal((30, 9))
    values[rng.random(values.shape) < 0.1 * (seed % 2)] = np.nan  # missing in odd seeds
    values[:, 0] = values[:, 1] * 2.0
    features = [f"f{i}" for i in range(9)]
    frame = pl.LazyFrame(values, schema=features, orient="row")
    corr = correlation_matrix(frame, features, method=method)  # type: ignore[arg-type]
    np.testing.assert_array_equal(corr, corr.T)
