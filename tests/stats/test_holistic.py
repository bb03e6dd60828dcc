"""Grouped holistic statistics: exact against NumPy / pandas / SciPy, in any block size."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.stats
from polars.testing import assert_frame_equal

from cytoplan.exceptions import ColumnNotFoundError, CytoplanError, SchemaError
from cytoplan.stats.blocks import column_blocks
from cytoplan.stats.holistic import (
    MAD_SCALE,
    Statistic,
    grouped_mad,
    grouped_medians,
    grouped_quantiles,
    grouped_statistics,
)
from cytoplan.testing.profiles import make_profiles


@pytest.fixture(scope="module")
def cells() -> pl.DataFrame:
    return make_profiles(plates=2, wells=8, cells_per_well=25, features=12, seed=3)


def _features(df: pl.DataFrame) -> list[str]:
    return [c for c in df.columns if not c.startswith("Metadata_")]


def _assert_exact(got: pl.DataFrame, expected: pd.DataFrame, columns: list[str]) -> None:
    for name in columns:
        left = got[name].to_numpy().astype(float)
        right = expected[name].to_numpy().astype(float)
        np.testing.assert_array_equal(left, right, err_msg=name)


def test_grouped_medians_equal_pandas_exactly(cells: pl.DataFrame) -> None:
    features = _features(cells)
    keys = ["Metadata_Plate", "Metadata_Well"]
    got = grouped_medians(cells.lazy(), features, by=keys)
    expected = cells.to_pandas().groupby(keys)[features].median().reset_index()
    assert got.columns == [*keys, *features]
    assert got.select(keys).to_pandas().equals(expected[keys])
    _assert_exact(got, expected, features)
    assert all(got[f].dtype == pl.Float64 for f in features)


def test_tiny_memory_limit_gives_one_column_blocks_and_same_result(cells: pl.DataFrame) -> None:
    features = _features(cells)
    big = grouped_medians(cells.lazy(), features, by=["Metadata_Well"])
    tiny = grouped_medians(cells.lazy(), features, by=["Metadata_Well"], memory_limit=1)
    assert tiny.equals(big)


def test_mad_and_quantiles_equal_scipy_and_numpy(cells: pl.DataFrame) -> None:
    features = _features(cells)
    lf = cells.lazy()
    out = grouped_statistics(
        lf, features, statistics=("median", "mad", 0.25, 0.75), mad_scale=MAD_SCALE
    )
    values = cells.select(features).to_numpy().astype(float)
    mad = scipy.stats.median_abs_deviation(values, nan_policy="omit", scale=1 / 1.4826)
    q25, q75 = np.nanpercentile(values, [25, 75], axis=0)
    np.testing.assert_array_equal(out["mad"].to_numpy()[0], mad)
    np.testing.assert_array_equal(out[0.25].to_numpy()[0], q25)
    np.testing.assert_array_equal(out[0.75].to_numpy()[0], q75)
    np.testing.assert_array_equal(out["median"].to_numpy()[0], np.nanmedian(values, axis=0))
    assert grouped_mad(lf, features, scale=MAD_SCALE).equals(out["mad"])
    quantiles = grouped_quantiles(lf, features, [0.25, 0.75], memory_limit=1)
    assert quantiles[0.25].equals(out[0.25])


@pytest.mark.parametrize("q", [0.0, 0.01, 0.1, 1 / 3, 0.5, 0.9, 1.0])
def test_quantiles_match_nanpercentile_for_every_group_size(q: float) -> None:
    rng = np.random.default_rng(11)
    sizes = np.arange(1, 40)
    group = np.repeat(sizes, sizes)
    x = rng.lognormal(0, 2, size=group.size) * 1e3
    x[rng.random(group.size) < 0.1] = np.nan
    lf = pl.LazyFrame({"g": group, "x": x})
    got = grouped_quantiles(lf, ["x"], [q], by=["g"])[q]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = [np.nanquantile(x[group == s], q) for s in sizes]
    np.testing.assert_array_equal(got["x"].to_numpy().astype(float), np.array(expected))


def test_nan_and_null_are_missing_and_empty_groups_give_null() -> None:
    lf = pl.LazyFrame(
        {
            "g": ["a", "a", "a", "b", "b", None],
            "x": [1.0, float("nan"), 3.0, None, float("nan"), 7.0],
            "i": [1, 2, 4, 5, 6, 7],
        }
    )
    out = grouped_medians(lf, ["x", "i"], by=["g"])
    assert out["g"].to_list() == ["a", "b", None]  # null key last, own group
    assert out["x"].to_list() == [2.0, None, 7.0]
    assert out["i"].to_list() == [2.0, 5.5, 7.0]
    assert out["i"].dtype == pl.Float64


def test_infinite_values_follow_numpy_and_scipy() -> None:
    # inf is a value, not missing: a median of inf gives inf - inf = NaN as the MAD
    inf = float("inf")
    columns = {
        "up": [1.0, inf, 3.0, 2.0],
        "down": [-inf, 1.0, 2.0, 5.0],
        "both": [-inf, inf, 1.0, 2.0],
        "mostly_inf": [inf, inf, inf, 1.0],
    }
    lf = pl.LazyFrame({"g": ["a"] * 4, **columns})
    out = grouped_statistics(
        lf, list(columns), statistics=("median", "mad", 0.25), by=["g"], mad_scale=MAD_SCALE
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy warns on inf - inf
        for name, values in columns.items():
            x = np.array(values)
            mad = scipy.stats.median_abs_deviation(x, nan_policy="omit", scale=1 / 1.4826)
            np.testing.assert_array_equal(out["median"][name].item(), np.median(x), err_msg=name)
            np.testing.assert_array_equal(out["mad"][name].item(), mad, err_msg=name)
            np.testing.assert_array_equal(out[0.25][name].item(), np.percentile(x, 25), name)
    assert np.isnan(out["mad"]["mostly_inf"].item())


def test_predicate_selects_reference_rows(cells: pl.DataFrame) -> None:
    features = _features(cells)
    predicate = pl.col("Metadata_control_type") == "negcon"
    got = grouped_medians(cells.lazy(), features, by=["Metadata_Plate"], predicate=predicate)
    pdf = cells.to_pandas()
    expected = (
        pdf[pdf.Metadata_control_type == "negcon"]
        .groupby("Metadata_Plate")[features]
        .median()
        .reset_index()
    )
    _assert_exact(got, expected, features)


def test_no_columns_returns_the_keys() -> None:
    lf = pl.LazyFrame({"g": ["b", "a", "b"], "x": [1.0, 2.0, 3.0]})
    assert grouped_medians(lf, [], by=["g"])["g"].to_list() == ["a", "b"]


def test_errors() -> None:
    lf = pl.LazyFrame({"g": ["a"], "x": [1.0], "s": ["text"]})
    with pytest.raises(ColumnNotFoundError, match="'y'"):
        grouped_medians(lf, ["y"])
    with pytest.raises(SchemaError, match="not numeric"):
        grouped_medians(lf, ["s"])
    with pytest.raises(CytoplanError, match="unknown statistic"):
        grouped_statistics(lf, ["x"], statistics=("max",))  # type: ignore[arg-type]
    with pytest.raises(CytoplanError, match="unknown statistic"):
        grouped_statistics(lf, ["x"], statistics=(1.5,))
    with pytest.raises(CytoplanError, match="both group keys"):
        grouped_medians(lf, ["x"], by=["x"])
    with pytest.raises(CytoplanError, match="empty"):
        grouped_quantiles(lf, ["x"], [])


def test_grouped_mad_with_predicate_is_bit_identical_to_scipy() -> None:
    df = make_profiles(plates=2, wells=48, features=18, seed=0)
    features = _features(df)
    negcon = pl.col("Metadata_control_type") == "negcon"
    got = grouped_mad(df.lazy(), features, by=["Metadata_Plate"], predicate=negcon, scale=MAD_SCALE)
    pdf = df.to_pandas()
    for i, (_, group) in enumerate(
        pdf[pdf.Metadata_control_type == "negcon"].groupby("Metadata_Plate")
    ):
        expected = scipy.stats.median_abs_deviation(
            group[features], nan_policy="omit", scale=1 / 1.4826
        )
        np.testing.assert_array_equal(got.select(features).row(i), expected)


def test_rows_of_a_group_need_not_be_contiguous(cells: pl.DataFrame) -> None:
    features = _features(cells)
    keys = ["Metadata_Plate", "Metadata_Well"]
    shuffled = cells.sample(fraction=1.0, shuffle=True, seed=1)
    got = grouped_medians(shuffled.lazy(), features, by=keys, memory_limit=1)
    assert got.equals(grouped_medians(cells.lazy(), features, by=keys))


def test_plan_whose_row_order_changes_between_scans_is_still_exact(cells: pl.DataFrame) -> None:
    features = _features(cells)
    keys = ["Metadata_Well"]
    # every collect returns the rows in another order: the row check must notice
    unordered = cells.lazy().map_batches(lambda df: df.sample(fraction=1.0, shuffle=True))
    got = grouped_medians(unordered, features, by=keys, memory_limit=1)
    assert got.equals(grouped_medians(cells.lazy(), features, by=keys))


def test_mean_matches_numpy_per_group_skipping_missing_values() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(3, 2, size=600)
    values[rng.random(600) < 0.1] = np.nan
    groups = rng.integers(0, 7, size=600).astype(str)
    lf = pl.LazyFrame({"g": groups, "x": values})
    got = grouped_statistics(lf, ["x"], statistics=("mean",), by=["g"], memory_limit="1GiB")
    table = got["mean"].sort("g")
    for group, mean in table.iter_rows():
        np.testing.assert_allclose(mean, np.nanmean(values[groups == group]), rtol=1e-13)


# ---------------------------------------------------------------- Parquet sources
# A plain Parquet scan takes the fused path (one in-memory query per block, group ids
# as a literal column); every other plan the general one. Both must give the same bits.


@pytest.fixture(scope="module")
def cells_parquet(cells: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("holistic") / "cells.parquet"
    cells.sample(fraction=1.0, shuffle=True, seed=5).write_parquet(path, row_group_size=37)
    return str(path)


def test_plain_parquet_scans_are_recognised(cells_parquet: str) -> None:
    from cytoplan.stats.holistic import _reads_in_file_order

    scan = pl.scan_parquet(cells_parquet)
    columns = ["Metadata_Well", "Cells_AreaShape_Area_0"]
    assert _reads_in_file_order(scan, columns)
    assert _reads_in_file_order(scan.filter(pl.col("Metadata_Plate") == "P1"), columns)
    assert _reads_in_file_order(scan.with_columns(pl.col("Metadata_Well").alias("w")), columns)
    wells = pl.LazyFrame({"Metadata_Well": ["A01"]})
    assert not _reads_in_file_order(scan.join(wells, on="Metadata_Well"), columns)
    assert not _reads_in_file_order(scan.map_batches(lambda df: df), columns)
    assert not _reads_in_file_order(scan.collect().lazy(), columns)


@pytest.mark.parametrize("memory_limit", [None, 1])
@pytest.mark.parametrize("statistics", [("median",), ("median", "mad", 0.25), ("mean",)])
def test_parquet_scan_gives_the_same_bits_as_a_frame(
    cells: pl.DataFrame, cells_parquet: str, memory_limit: int | None, statistics: tuple
) -> None:
    features = _features(cells)
    keys = ["Metadata_Plate", "Metadata_Well"]
    shuffled = cells.sample(fraction=1.0, shuffle=True, seed=5)  # the file's row order
    for by in (keys, []):
        fused = grouped_statistics(
            pl.scan_parquet(cells_parquet),
            features,
            statistics=statistics,
            by=by,
            memory_limit=memory_limit,
        )
        general = grouped_statistics(
            shuffled.lazy(), features, statistics=statistics, by=by, memory_limit=memory_limit
        )
        for statistic in statistics:
            if statistic == "mean":  # sums follow the row groups: equal to 1e-12
                assert_frame_equal(fused[statistic], general[statistic], rel_tol=1e-12)
            else:  # order statistics: the same bits
                assert fused[statistic].equals(general[statistic]), (statistic, by)
    medians = grouped_medians(pl.scan_parquet(cells_parquet), features, by=keys)
    expected = cells.to_pandas().groupby(keys)[features].median().reset_index()
    _assert_exact(medians, expected, features)


def test_parquet_scan_with_a_row_filter(cells: pl.DataFrame, cells_parquet: str) -> None:
    features = _features(cells)
    controls = pl.col("Metadata_Well").is_in(["A01", "A02", "B03"])
    got = grouped_medians(
        pl.scan_parquet(cells_parquet), features, by=["Metadata_Plate"], predicate=controls
    )
    expected = (
        cells.filter(controls).to_pandas().groupby("Metadata_Plate")[features].median()
    ).reset_index()
    assert got.height == expected.shape[0] > 0
    _assert_exact(got, expected, features)


def test_plain_parquet_scan_takes_the_fused_path(
    cells: pl.DataFrame, cells_parquet: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cytoplan.stats.holistic as holistic

    def general_path(*args: object, **kwargs: object) -> pl.DataFrame:
        raise AssertionError("a plain Parquet scan should not take the general path")

    expected = grouped_medians(
        pl.scan_parquet(cells_parquet), _features(cells), by=["Metadata_Well"]
    )
    monkeypatch.setattr(holistic, "_run_blocks", general_path)
    got = grouped_medians(pl.scan_parquet(cells_parquet), _features(cells), by=["Metadata_Well"])
    assert got.equals(expected)


def test_fused_path_hands_a_reordering_plan_to_the_general_path(
    cells: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cytoplan.stats.holistic as holistic

    # pretend a shuffling plan keeps file order: the first block's check must catch it
    monkeypatch.setattr(holistic, "_reads_in_file_order", lambda frame, columns: True)
    features = _features(cells)
    unordered = cells.lazy().map_batches(lambda df: df.sample(fraction=1.0, shuffle=True))
    got = grouped_medians(unordered, features, by=["Metadata_Well"], memory_limit=1)
    monkeypatch.undo()
    assert got.equals(grouped_medians(cells.lazy(), features, by=["Metadata_Well"]))


def test_parquet_scan_without_keys_and_no_rows_left(
    cells: pl.DataFrame, cells_parquet: str
) -> None:
    features = _features(cells)[:3]
    none = grouped_statistics(
        pl.scan_parquet(cells_parquet),
        features,
        statistics=("median", "mad"),
        predicate=pl.col("Metadata_Well") == "no such well",
    )
    for statistic in ("median", "mad"):
        assert none[statistic].shape == (1, 3)
        assert none[statistic].null_count().row(0) == (1, 1, 1)


def test_join_plan_with_constant_leading_columns_gives_exact_medians(tmp_path) -> None:
    # a join's rows come in another order at each collect; constant columns first
    # cannot tell one order from another, so positional group ids would be wrong
    rng = np.random.default_rng(0)
    n = 4000
    table = pl.DataFrame(
        {
            "Metadata_Well": rng.choice([f"W{i}" for i in range(8)], n),
            **{f"Cells_const{j}": np.zeros(n) for j in range(4)},
            **{f"Cells_f{j}": rng.normal(j * 10, 1, n) for j in range(3)},
        }
    )
    path = tmp_path / "cells.parquet"
    table.write_parquet(path, row_group_size=300)
    platemap = table.select("Metadata_Well").unique().with_columns(Metadata_x=pl.lit(1))
    joined = pl.scan_parquet(path).join(platemap.lazy(), on="Metadata_Well")
    features = [c for c in table.columns if c.startswith("Cells_")]
    expected = grouped_medians(table.lazy(), features, by=["Metadata_Well"])
    for limit in (1, "2GiB"):
        got = grouped_medians(joined, features, by=["Metadata_Well"], memory_limit=limit)
        assert got.equals(expected)


def _scipy_mads(df: pl.DataFrame, features: list[str], keys: list[str]) -> pd.DataFrame:
    frame = df.to_pandas()
    rows = []
    for key, group in frame.groupby(keys, dropna=False, sort=True):
        mads = scipy.stats.median_abs_deviation(
            group[features].to_numpy(float), axis=0, nan_policy="omit"
        )
        rows.append((*(key if isinstance(key, tuple) else (key,)), *mads))
    return pd.DataFrame(rows, columns=[*keys, *features])


@pytest.mark.parametrize("with_mean", [False, True], ids=["holistic", "with a mean"])
@pytest.mark.parametrize("plan", ["frame", "parquet scan", "reshuffled at each scan"])
def test_mad_without_the_median_on_every_path(
    cells: pl.DataFrame, cells_parquet: str, plan: str, with_mean: bool
) -> None:
    # the MAD is a second group-by around the medians of the first: it must equal
    # SciPy's per group on the fused path, the general path with positional group ids
    # and the general path with the keys read alongside (a plan that reorders rows)
    features = _features(cells)
    keys = ["Metadata_Plate", "Metadata_Well"]
    lazy = {
        "frame": cells.lazy(),
        "parquet scan": pl.scan_parquet(cells_parquet),
        "reshuffled at each scan": cells.lazy().map_batches(
            lambda df: df.sample(fraction=1.0, shuffle=True)
        ),
    }[plan]
    statistics: tuple[Statistic, ...] = ("mad", "mean") if with_mean else ("mad",)
    out = grouped_statistics(lazy, features, statistics=statistics, by=keys, memory_limit=1)
    assert set(out) == set(statistics)  # the median the MAD needed is not returned
    expected = _scipy_mads(cells, features, keys)
    assert out["mad"].select(keys).to_pandas().equals(expected[keys])
    _assert_exact(out["mad"], expected, features)


@pytest.mark.parametrize("source", ["frame", "parquet"])
def test_mad_and_quantiles_do_not_narrow_the_blocks(
    cells: pl.DataFrame, cells_parquet: str, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statistics of a block run one column at a time (the MAD in a group-by of its
    own after the medians'), so asking for more of them keeps the median's blocks."""
    import cytoplan.stats.holistic as holistic

    widths: list[int] = []

    def recording(*args: object, **kwargs: object) -> list[list[str]]:
        blocks = column_blocks(*args, **kwargs)  # type: ignore[arg-type]
        widths.append(len(blocks[0]))
        return blocks

    monkeypatch.setattr(holistic, "column_blocks", recording)
    lf = cells.lazy() if source == "frame" else pl.scan_parquet(cells_parquet)
    features = _features(cells)
    limit = 4 * 3 * cells.height * 8 * 4  # a quarter: three columns of a median's block
    for statistics in (("median",), ("median", "mad"), ("mad",), ("median", 0.25, 0.75)):
        grouped_statistics(
            lf, features, statistics=statistics, by=["Metadata_Well"], memory_limit=limit
        )
    # the general path (a frame) also holds the next block: half a median's more
    expected = 3 if source == "parquet" else 2
    assert widths == [expected] * 4
