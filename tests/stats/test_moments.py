"""stats.moments: streamed count/mean/M2 per group, merging, and TSQR cross-products."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cytoplan.exceptions import CytoplanError, StatisticsError
from cytoplan.stats.moments import (
    STREAM_BYTES_PER_COLUMN,
    TallSkinnyQR,
    grouped_moments,
    merge_moments,
    moment_blocks,
    moments_variance,
)


@pytest.fixture
def frame() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = 1000
    x = rng.normal(1e6, 1.0, size=n)  # large mean, small spread: naive sums of squares fail
    x[::17] = np.nan
    return pl.DataFrame(
        {
            "g": np.where(np.arange(n) % 3 == 0, "a", "b"),
            "x": x,
            "y": rng.integers(0, 5, size=n),
            "ref": np.arange(n) % 2 == 0,
        }
    ).with_columns(
        pl.when(pl.int_range(pl.len()) % 23 == 0).then(None).otherwise(pl.col("y")).alias("y")
    )


def test_grouped_moments_match_numpy(frame: pl.DataFrame) -> None:
    m = grouped_moments(frame.lazy(), ["x", "y"], by=["g"], predicate=pl.col("ref"))
    assert m.columns == ["g", "feature", "rows", "count", "mean", "m2"]
    assert m["g"].to_list() == ["a", "a", "b", "b"] and m["feature"].to_list() == ["x", "y"] * 2
    for row in m.iter_rows(named=True):
        part = frame.filter(pl.col("ref") & (pl.col("g") == row["g"]))
        values = part[row["feature"]].cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
        assert row["rows"] == part.height and row["count"] == values.size
        assert row["mean"] == pytest.approx(values.mean(), rel=1e-14)
        assert row["m2"] == pytest.approx(((values - values.mean()) ** 2).sum(), rel=1e-9)


def test_merge_equals_one_pass(frame: pl.DataFrame) -> None:
    whole = grouped_moments(frame.lazy(), ["x", "y"], by=["g"])
    first = grouped_moments(frame.head(400).lazy(), ["x", "y"], by=["g"])
    rest = grouped_moments(frame.tail(600).lazy(), ["x", "y"], by=["g"])
    merged = merge_moments(first, rest, by=["g"])
    assert merged.select("g", "feature", "rows", "count").equals(
        whole.select("g", "feature", "rows", "count")
    )
    np.testing.assert_allclose(merged["mean"].to_numpy(), whole["mean"].to_numpy(), rtol=1e-14)
    np.testing.assert_allclose(merged["m2"].to_numpy(), whole["m2"].to_numpy(), rtol=1e-9)
    var = moments_variance(merged, ddof=1).to_numpy()
    expected = frame.group_by("g").agg(pl.col("x").fill_nan(None).var()).sort("g")["x"].to_numpy()
    np.testing.assert_allclose(var[::2], expected, rtol=1e-9)


def test_merge_keeps_one_sided_groups() -> None:
    a = grouped_moments(pl.LazyFrame({"g": ["a"], "x": [1.0]}), ["x"], by=["g"])
    b = grouped_moments(pl.LazyFrame({"g": ["b", "b"], "x": [1.0, 3.0]}), ["x"], by=["g"])
    merged = merge_moments(a, b, by=["g"])
    assert merged.select("g", "count", "mean", "m2").rows() == [
        ("a", 1, 1.0, 0.0),
        ("b", 2, 2.0, 2.0),
    ]


def test_no_keys_and_empty_subset() -> None:
    lf = pl.LazyFrame({"x": [1.0, 2.0]})
    m = grouped_moments(lf, ["x"], predicate=pl.col("x") > 5)
    assert m.select("rows", "count", "mean", "m2").row(0) == (0, 0, None, None)
    with pytest.raises(CytoplanError, match="repeated"):
        grouped_moments(lf, ["x", "x"])


def test_tsqr_matches_svd_and_merges() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
    one = TallSkinnyQR(8)
    for start in range(0, 500, 37):
        one.update(x[start : start + 37])
    left, right = TallSkinnyQR(8).update(x[:123]), TallSkinnyQR(8).update(x[123:])
    merged = left.merge(right)
    s_ref, vt_ref = np.linalg.svd(x, full_matrices=False)[1:]
    for acc in (one, merged):
        assert acc.n_rows == 500
        s, vt = acc.svd()
        np.testing.assert_allclose(s, s_ref, rtol=1e-12)
        np.testing.assert_allclose(np.abs(vt @ vt_ref.T), np.eye(8), atol=1e-9)
        np.testing.assert_allclose(acc.gram(), x.T @ x, rtol=1e-10, atol=1e-9)


def test_tsqr_refuses_bad_batches() -> None:
    acc = TallSkinnyQR(3)
    with pytest.raises(CytoplanError, match="3 columns"):
        acc.update(np.ones((2, 2)))
    with pytest.raises(StatisticsError, match="NaN"):
        acc.update(np.array([[1.0, np.nan, 2.0]]))
    assert acc.update(np.empty((0, 3))).n_rows == 0
    with pytest.raises(CytoplanError, match="merge"):
        acc.merge(TallSkinnyQR(4))


def test_column_blocks_give_the_same_moments() -> None:
    rng = np.random.default_rng(2)
    df = pl.DataFrame(rng.normal(size=(300, 40)), schema=[f"c{i}" for i in range(40)])
    df = df.with_columns(g=pl.Series(np.where(np.arange(300) % 2 == 0, "a", "b")))
    columns = [f"c{i}" for i in range(40)]
    one = grouped_moments(df.lazy(), columns, by=["g"])
    assert [len(b) for b in moment_blocks(columns, 32 * STREAM_BYTES_PER_COLUMN)] == [16, 16, 8]
    blocked = grouped_moments(
        df.lazy(), columns, by=["g"], memory_limit=32 * STREAM_BYTES_PER_COLUMN
    )
    assert blocked.equals(one)


def test_a_float_key_holding_nan_and_null_gives_one_group_each() -> None:
    # more rows than one chunk: each chunk's NaN key must join the same group
    rng = np.random.default_rng(0)
    n = 6000
    key = rng.choice([1.0, 2.0, np.nan, -1.0], n)
    x = rng.normal(10, 2, n)
    frame = pl.DataFrame({"k": pl.Series(key, nan_to_null=False), "x": x}).with_columns(
        pl.when(pl.col("k") == -1.0).then(None).otherwise(pl.col("k")).alias("k")
    )
    m = grouped_moments(frame.lazy(), ["x"], by=["k"])
    assert m.height == 4 and m["rows"].sum() == n
    for row in m.iter_rows(named=True):
        k = row["k"]
        if k is None:
            chosen = key == -1.0
        elif np.isnan(k):
            chosen = np.isnan(key)
        else:
            chosen = key == k
        assert row["rows"] == chosen.sum()
        assert row["mean"] == pytest.approx(x[chosen].mean(), rel=1e-14)


def test_standardize_by_a_float_key_holding_nan() -> None:
    from cytoplan.ops.normalize import Standardize

    rng = np.random.default_rng(1)
    n = 6000
    key = rng.choice([1.0, 2.0, np.nan], n)
    frame = pl.DataFrame({"k": pl.Series(key, nan_to_null=False), "Cells_x": rng.normal(10, 2, n)})
    out = Standardize().fit_transform(frame.lazy(), by="k").collect()
    for chosen in (pl.col("k") == 1.0, pl.col("k") == 2.0, pl.col("k").is_nan()):
        z = out.filter(chosen)["Cells_x"]
        assert abs(z.mean()) < 1e-12 and z.std(ddof=0) == pytest.approx(1.0, rel=1e-12)
