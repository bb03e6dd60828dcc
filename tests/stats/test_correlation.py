"""Correlation matrices: streamed Pearson vs np.corrcoef, pairwise-complete paths vs pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cytoplan.exceptions import CytoplanError, StatisticsError
from cytoplan.stats import correlation
from cytoplan.stats.correlation import (
    CrossProducts,
    batch_rows_for,
    correlation_matrix,
    cross_products,
    fixed_batches,
    kendall,
    pearson,
    spearman,
)

TOL = 1e-12


def _frame(values: np.ndarray) -> tuple[pl.LazyFrame, pd.DataFrame, list[str]]:
    names = [f"c{i}" for i in range(values.shape[1])]
    pdf = pd.DataFrame(values, columns=names)
    lf = pl.from_pandas(pdf, nan_to_null=False).lazy()
    return lf, pdf, names


def _same(ours: np.ndarray, ref: np.ndarray, tol: float = TOL) -> None:
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    both = ~np.isnan(ref)
    assert np.max(np.abs(ours[both] - ref[both]), initial=0.0) <= tol


def _data(n: int = 150, d: int = 25, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.1, 50, d)
    values = rng.normal(size=(n, d)) * scale + rng.uniform(-1e3, 1e3, d)
    values[:, 3] = 2.5 * values[:, 1] + rng.normal(0, 0.1, n)
    values[:, 4] = -values[:, 2] + rng.normal(0, 0.5, n)
    values[:, 6] = np.round(values[:, 6] / scale[6])  # many ties
    values[:, 7] = np.exp(rng.normal(size=n))  # skewed
    return values


def _with_missing(values: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = values.copy()
    out[rng.random(out.shape) < 0.08] = np.nan
    out[5, 2] = np.inf
    out[9, 7] = -np.inf
    return out


@pytest.mark.parametrize("batch_rows", [7, 64, 4096])
def test_pearson_matches_corrcoef_in_any_batching(batch_rows: int) -> None:
    values = _data()
    lf, _, names = _frame(values)
    _same(pearson(lf, names, batch_rows=batch_rows), np.corrcoef(values.T))


def test_pearson_is_deterministic() -> None:
    lf, _, names = _frame(_data())
    first = pearson(lf, names, batch_rows=33)
    second = pearson(lf, names, batch_rows=33)
    assert first.tobytes() == second.tobytes()


def test_pearson_is_stable_with_large_offsets() -> None:
    rng = np.random.default_rng(5)
    base = rng.normal(size=(400, 3)) * 1e-3
    values = 1e8 + base  # mean²/variance ≈ 1e22: an uncentered X^T X would lose everything
    lf, _, names = _frame(values)
    ours = pearson(lf, names, batch_rows=50)
    # the offset itself costs ~1e-8 relative precision in the inputs
    assert np.max(np.abs(ours - np.corrcoef(base.T))) < 1e-6
    assert np.allclose(ours, np.corrcoef(values.T), atol=1e-12)


def test_constant_column_gives_nan_like_pandas() -> None:
    values = _data()
    values[:, 5] = 0.1  # np.corrcoef gives rounding noise here; pandas NaN
    lf, pdf, names = _frame(values)
    ours = pearson(lf, names)
    assert np.isnan(ours[5]).all()
    assert np.isnan(ours[:, 5]).all()
    _same(ours, pdf.corr().to_numpy(), tol=1e-11)


def test_a_lone_batch_is_correlated_directly_with_the_streamed_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cytoplan.stats import correlation

    calls: list[int] = []
    direct_path = correlation._correlation_of_rows
    monkeypatch.setattr(
        correlation,
        "_correlation_of_rows",
        lambda values: calls.append(values.shape[0]) or direct_path(values),
    )
    values = _data()
    values[:, 5] = 0.1  # exactly constant: NaN on both paths
    lf, pdf, names = _frame(values)
    direct = pearson(lf, names)  # 150 rows: less than one batch
    streamed = pearson(lf, names, batch_rows=150)  # one full batch: the cross-products
    assert calls == [150]
    _same(direct, streamed, tol=1e-14)
    _same(direct, pdf.corr().to_numpy(), tol=1e-11)
    assert np.nanmax(np.abs(direct)) <= 1.0
    rng = np.random.default_rng(5)
    base = rng.normal(size=(400, 3)) * 1e-3
    lf, _, names = _frame(1e8 + base)
    assert np.max(np.abs(pearson(lf, names) - np.corrcoef(base.T))) < 1e-6
    assert calls == [150, 400]


def test_pearson_pairwise_complete_matches_pandas() -> None:
    values = _with_missing(_data())
    lf, pdf, names = _frame(values)
    _same(pearson(lf, names, batch_rows=16), pdf.corr().to_numpy(), tol=1e-11)


def test_missing_values_appearing_in_a_later_batch() -> None:
    values = _data(n=200)
    values[150:, 3] = np.nan  # first batches are complete: the accumulator switches midway
    values[170, 0] = np.inf
    lf, pdf, names = _frame(values)
    _same(pearson(lf, names, batch_rows=40), pdf.corr().to_numpy(), tol=1e-11)


def _exact_pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of the rows where both are finite, in extended precision."""
    both = np.isfinite(x) & np.isfinite(y)
    a, b = x[both].astype(np.longdouble), y[both].astype(np.longdouble)
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


@pytest.mark.parametrize("offset", [1e4, 1e6, 1e8])
def test_a_column_missing_from_the_first_batch_keeps_its_digits(offset: float) -> None:
    # the first pass shifts column 'a' by 0 (nothing to take a median of); its values
    # then sit `offset` standard deviations away and the sums are read again, shifted
    # by the column's mean (before: r off by 4e-9 at 1e4, NaN at 1e8)
    rng = np.random.default_rng(7)
    x = rng.normal(size=4000)
    a = offset + x
    a[:1000] = np.nan
    b = x + rng.normal(size=4000) * 0.5
    constant = np.full(4000, 7.3)
    constant[:500] = np.nan
    lf = pl.LazyFrame({"a": a, "b": b, "k": constant})
    ours = pearson(lf, ["a", "b", "k"], batch_rows=256)
    assert abs(ours[0, 1] - _exact_pearson(a, b)) < 1e-14
    assert np.isnan(ours[2]).all()  # constant where present: NaN, as pandas
    ref = pd.DataFrame({"a": a, "b": b, "k": constant}).corr().to_numpy()
    _same(ours, ref, tol=1e-8)  # pandas' own error at 1e8 is ~1e-9


def test_drifting_values_are_summed_again_around_their_mean() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=3000)
    drift = np.where(np.arange(3000) < 300, 0.0, 1e7)  # later batches moved by 1e7 σ
    values = np.column_stack([x + drift, x + rng.normal(size=3000)])
    lf, _, names = _frame(values)
    ours = pearson(lf, names, batch_rows=256)
    assert abs(ours[0, 1] - _exact_pearson(values[:, 0], values[:, 1])) < 1e-13
    partials = cross_products(lf, names, batch_rows=256)
    np.testing.assert_allclose(partials.mean, values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(partials.correlation(), ours, atol=1e-15)


def test_nulls_are_missing_values() -> None:
    lf = pl.LazyFrame({"a": [1.0, 2.0, None, 4.0, 5.0], "b": [2.0, 1.0, 7.0, 3.0, 6.0]})
    ref = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0, 5.0], "b": [2.0, 1, 7, 3, 6]}).corr()
    _same(pearson(lf, ["a", "b"]), ref.to_numpy())


def test_degenerate_columns_match_pandas() -> None:
    values = _data(n=30, d=9)
    values[:, 1] = np.nan  # all missing
    values[1:, 2] = np.nan  # a single value
    values[::2, 3] = np.nan
    values[1::2, 4] = np.nan  # never observed together with column 3
    lf, pdf, names = _frame(values)
    for method in ("pearson", "spearman"):
        _same(correlation_matrix(lf, names, method=method), pdf.corr(method).to_numpy(), 1e-12)


def test_integer_columns() -> None:
    lf = pl.LazyFrame({"a": [1, 2, 3, 4], "b": [1, 3, 2, 5]})
    ref = np.corrcoef(np.array([[1, 2, 3, 4], [1, 3, 2, 5]], dtype=float))
    _same(pearson(lf, ["a", "b"]), ref)


def test_zero_rows_give_nan() -> None:
    lf = pl.LazyFrame({"a": [], "b": []}, schema={"a": pl.Float64, "b": pl.Float64})
    assert np.isnan(pearson(lf, ["a", "b"])).all()


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("memory_limit", [None, "1MiB"])
def test_spearman_matches_pandas(missing: bool, memory_limit: str | None) -> None:
    values = _data(n=120, d=18)
    if missing:
        values = _with_missing(values)
    lf, pdf, names = _frame(values)
    ours = spearman(lf, names, memory_limit=memory_limit)
    _same(ours, pdf.corr("spearman").to_numpy())


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("memory_limit", [None, "1MiB"])
def test_kendall_matches_pandas(missing: bool, memory_limit: str | None) -> None:
    values = _data(n=60, d=14)
    if missing:
        values = _with_missing(values)
    lf, pdf, names = _frame(values)
    ours = kendall(lf, names, memory_limit=memory_limit)
    _same(ours, pdf.corr("kendall").to_numpy())


def test_kendall_refuses_single_cell_scale() -> None:
    lf = pl.LazyFrame({f"c{i}": np.arange(200_000, dtype=float) for i in range(40)})
    with pytest.raises(StatisticsError, match="aggregate to well level"):
        kendall(lf, lf.collect_schema().names())


def test_method_names() -> None:
    values = _data(n=40, d=8)
    lf, pdf, names = _frame(values)
    _same(correlation_matrix(lf, names, method="Spearman"), pdf.corr("spearman").to_numpy())  # type: ignore[arg-type]
    with pytest.raises(CytoplanError, match="unknown correlation method"):
        correlation_matrix(lf, names, method="distance")  # type: ignore[arg-type]


def test_cross_products_merge_is_exact() -> None:
    values = _data(n=90, d=8)
    whole = CrossProducts.from_array(values)
    merged = CrossProducts.from_array(values[:31]).merge(CrossProducts.from_array(values[31:]))
    assert merged.n == 90
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-14)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(merged.covariance(), np.cov(values.T), rtol=1e-10)
    _same(merged.correlation(), np.corrcoef(values.T))


def test_cross_products_streamed() -> None:
    values = _data(n=100, d=8)
    lf, _, names = _frame(values)
    streamed = cross_products(lf, names, batch_rows=9)
    assert streamed.n == 100
    np.testing.assert_allclose(streamed.covariance(), np.cov(values.T), rtol=1e-11)
    with pytest.raises(StatisticsError, match="missing or infinite"):
        cross_products(_frame(_with_missing(values))[0], names)


def test_fixed_batches_do_not_depend_on_engine_chunks() -> None:
    chunked = pl.concat(
        [pl.DataFrame({"a": range(i, i + 3)}) for i in range(0, 30, 3)], rechunk=False
    )
    heights = [batch.height for batch in fixed_batches(chunked.lazy(), 7)]
    assert heights == [7, 7, 7, 7, 2]
    assert batch_rows_for(10) == 65_536
    assert batch_rows_for(100_000) == 256


@pytest.mark.parametrize("source", ["parquet", "memory", "plan"])
def test_where_selects_rows_in_every_reading_path(tmp_path, source: str) -> None:
    values = _with_missing(_data(n=300, d=8))
    lf, pdf, names = _frame(values)
    frame = lf.with_columns(pl.Series("Metadata_keep", (np.arange(300) % 3 == 0)))
    if source == "parquet":
        path = tmp_path / "x.parquet"
        frame.collect().write_parquet(path, row_group_size=64)
        frame = pl.scan_parquet(path)
    elif source == "plan":  # not a plain scan: streams through collect_batches
        frame = frame.with_columns(pl.col("c0") * 1.0)
    where = pl.col("Metadata_keep")
    ref = pdf[np.arange(300) % 3 == 0].corr().to_numpy()
    ours = pearson(frame, names, where=where, memory_limit="1MiB", batch_rows=16)
    _same(ours, ref, tol=1e-11)
    _same(
        correlation_matrix(frame, names, method="spearman", where=where),
        pdf[np.arange(300) % 3 == 0].corr("spearman").to_numpy(),
    )


def test_plain_scans_are_read_in_slices(tmp_path) -> None:
    from cytoplan.stats.correlation import _plain_scan_source, fixed_batches

    path = tmp_path / "x.parquet"
    pl.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}).write_parquet(path)
    assert _plain_scan_source(pl.scan_parquet(path)) == "file"
    assert _plain_scan_source(pl.scan_parquet(path).select("a")) == "file"
    assert _plain_scan_source(pl.LazyFrame({"a": [1.0]})) == "memory"
    assert _plain_scan_source(pl.scan_parquet(path).filter(pl.col("a") > 1)) is None
    shifted = pl.scan_parquet(path).with_columns(pl.col("a") - pl.col("a").mean())
    assert _plain_scan_source(shifted) is None
    # slices of 4 rows (a huge declared width leaves room for no more): reading stops at
    # the first short slice, without a count query; exact multiples end on an empty one
    for n in (0, 1, 7, 8, 9, 16, 17):
        values = [float(i) for i in range(n)]
        batches = list(fixed_batches(pl.LazyFrame({"a": values}), 4, width=2**40))
        assert [b.height for b in batches] == [4] * (n // 4) + ([n % 4] if n % 4 else [])
        assert [v for b in batches for v in b["a"].to_list()] == values


@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_rank_correlations_of_a_join_plan_pair_the_right_rows(tmp_path, method: str) -> None:
    # column blocks are read one collect at a time; a join's rows come in another
    # order at each collect, so such a plan is staged before its blocks are paired
    rng = np.random.default_rng(0)
    n = 1500 if method == "kendall" else 4000
    shared = rng.normal(size=n)
    table = pl.DataFrame(
        {
            "Metadata_Plate": rng.choice(["P1", "P2"], n),
            **{f"Cells_f{j}": shared + rng.normal(0, 0.1, n) for j in range(6)},
        }
    )
    path = tmp_path / "cells.parquet"
    table.write_parquet(path, row_group_size=300)
    plates = pl.LazyFrame({"Metadata_Plate": ["P1", "P2"], "Metadata_x": [1, 2]})
    joined = pl.scan_parquet(path).join(plates, on="Metadata_Plate")
    names = [f"Cells_f{j}" for j in range(6)]
    limit = 40_000 if method == "kendall" else "1MiB"
    ours = correlation_matrix(joined, names, method=method, memory_limit=limit)
    _same(ours, table.to_pandas()[names].corr(method).to_numpy())


def test_spearman_sizes_its_blocks_for_the_missing_value_path(monkeypatch) -> None:
    # ranking around missing values keeps more block-sized arrays alive
    seen: list[int] = []
    original = correlation._by_block_pairs

    def spy(*args, copies: int, **kwargs):
        seen.append(copies)
        return original(*args, copies=copies, **kwargs)

    monkeypatch.setattr(correlation, "_by_block_pairs", spy)
    values = _data(n=50, d=9)
    lf, pdf, names = _frame(values)
    _same(spearman(lf, names), pdf.corr("spearman").to_numpy())
    lf, pdf, names = _frame(_with_missing(values))
    _same(spearman(lf, names), pdf.corr("spearman").to_numpy())
    assert seen == [8, 20]
