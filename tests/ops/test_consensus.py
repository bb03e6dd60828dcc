"""consensus (median / mean / MODZ): parity with pycytominer 1.7.1, and error cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cytoplan.exceptions import ColumnNotFoundError, ParameterError, SchemaError
from cytoplan.ops._modz import pairwise_correlation
from cytoplan.ops.consensus import consensus, modz
from cytoplan.testing.profiles import make_profiles

pycytominer = pytest.importorskip("pycytominer")

SAMPLE = "Metadata_broad_sample"


def _wells(*, nulls: bool, seed: int = 5) -> pl.DataFrame:
    df = make_profiles(plates=3, wells=24, features=18, seed=seed, nulls=nulls)
    # a second key with a null value, and one constant replicate
    return df.with_columns(
        pl.when(pl.col("Metadata_Well").str.ends_with("7"))
        .then(None)
        .otherwise(pl.col("Metadata_Plate"))
        .alias("Metadata_Plate")
    )


def _reference(df: pl.DataFrame, **kwargs: object) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pycytominer.consensus(df.to_pandas(), **kwargs)
    assert isinstance(out, pd.DataFrame)
    return out


def _assert_matches(got: pl.DataFrame, expected: pd.DataFrame, *, rtol: float) -> None:
    assert got.columns == list(expected.columns)
    assert got.height == len(expected)
    for name in got.columns:
        if got[name].dtype == pl.String:
            assert got[name].to_list() == [None if pd.isna(v) else v for v in expected[name]]
            continue
        a = got[name].to_numpy().astype(float)
        b = expected[name].to_numpy().astype(float)
        if rtol == 0.0:
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-300, err_msg=name)


@pytest.mark.parametrize("method", ["median", "mean"])
@pytest.mark.parametrize("keys", [[SAMPLE], ["Metadata_Plate", SAMPLE]])
def test_median_and_mean(method: str, keys: list[str]) -> None:
    df = _wells(nulls=True)
    got = consensus(df.lazy(), replicate_columns=keys, method=method).collect()  # type: ignore[arg-type]
    expected = _reference(df, replicate_columns=keys, operation=method)
    _assert_matches(got, expected, rtol=1e-12 if method == "mean" else 0.0)


@pytest.mark.parametrize("modz_method", ["spearman", "pearson", "kendall"])
@pytest.mark.parametrize("nulls", [False, True])
@pytest.mark.parametrize("keys", [[SAMPLE], ["Metadata_Plate", SAMPLE]])
def test_modz(modz_method: str, nulls: bool, keys: list[str]) -> None:
    df = _wells(nulls=nulls)
    got = consensus(
        df.lazy(),
        replicate_columns=keys,
        method="modz",
        modz_method=modz_method,  # type: ignore[arg-type]
    ).collect()
    expected = _reference(
        df, replicate_columns=keys, operation="modz", modz_args={"method": modz_method}
    )
    _assert_matches(got, expected, rtol=1e-12)


@pytest.mark.parametrize(("min_weight", "precision"), [(0.3, 2), (0.0, 4), (0.9, 0), (0.01, 6)])
def test_modz_min_weight_and_precision(min_weight: float, precision: int) -> None:
    df = _wells(nulls=True, seed=9)
    got = consensus(
        df.lazy(),
        replicate_columns=SAMPLE,
        method="modz",
        min_weight=min_weight,
        precision=precision,
    ).collect()
    expected = _reference(
        df,
        replicate_columns=[SAMPLE],
        operation="modz",
        modz_args={"method": "spearman", "min_weight": min_weight, "precision": precision},
    )
    _assert_matches(got, expected, rtol=1e-12)


def test_single_replicates_keep_values_and_missing_become_zero() -> None:
    df = _wells(nulls=True)
    keys = ["Metadata_Plate", "Metadata_Well"]
    got = modz(df.lazy(), replicate_columns=keys).collect()
    expected = _reference(df, replicate_columns=keys, operation="modz")
    _assert_matches(got, expected, rtol=0.0)
    feature = df.columns[5]
    assert df[feature].null_count() > 0
    assert got[feature].null_count() == 0


def test_constant_replicate_and_many_groups() -> None:
    rng = np.random.default_rng(2)
    n_groups, d = 400, 30
    sizes = rng.integers(1, 6, size=n_groups)
    groups = np.repeat([f"g{i:04d}" for i in range(n_groups)], sizes)
    values = rng.normal(size=(groups.size, d)) + rng.normal(size=(n_groups, d)).repeat(sizes, 0)
    values[3] = 1.0  # a constant replicate: NaN correlations, NaN weight
    values[rng.random(values.shape) < 0.01] = np.nan
    df = pl.DataFrame({SAMPLE: groups}).hstack(
        pl.DataFrame(values, schema=[f"Cells_f{j}" for j in range(d)], orient="row")
    )
    for method in ("spearman", "pearson", "kendall"):
        got = modz(df.lazy(), replicate_columns=SAMPLE, method=method).collect()  # type: ignore[arg-type]
        expected = _reference(
            df, replicate_columns=[SAMPLE], operation="modz", modz_args={"method": method}
        )
        _assert_matches(got, expected, rtol=1e-12)


def test_three_equal_replicates_weigh_0_3333() -> None:
    df = pl.DataFrame({SAMPLE: ["a"] * 3, "Cells_x": [1.0, 2.0, 3.0], "Cells_y": [3.0, 4.0, 5.0]})
    got = modz(df.lazy(), replicate_columns=SAMPLE).collect()
    assert got["Cells_x"].item() == pytest.approx(1.9998, abs=1e-15)


def test_pairwise_correlation_matches_pandas() -> None:
    rng = np.random.default_rng(4)
    block = rng.normal(size=(5, 40))
    block[rng.random(block.shape) < 0.15] = np.nan
    block[2, :] = np.where(np.isnan(block[2]), np.nan, np.round(block[2]))  # ties
    for method in ("spearman", "pearson", "kendall"):
        expected = pd.DataFrame(block.T).corr(method=method).to_numpy().copy()
        got = pairwise_correlation(block, method)  # type: ignore[arg-type]
        if method == "kendall":  # MODZ leaves the diagonal out; pandas puts 1 there
            np.fill_diagonal(expected, np.nan)
        np.testing.assert_allclose(got, expected, rtol=1e-13)


def _brute_force_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """(concordant - discordant) / sqrt((P - Tx)(P - Ty)), counted pair by pair."""
    i, j = np.triu_indices(x.size, k=1)
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    s = int((dx * dy > 0).sum() - (dx * dy < 0).sum())
    return s / math.sqrt(float((dx != 0).sum()) * float((dy != 0).sum()))


def test_kendall_roundings() -> None:
    from scipy.stats import kendalltau

    from cytoplan.ops._modz import _tau_b

    rng = np.random.default_rng(11)
    differ = 0
    for _ in range(300):
        n = int(rng.integers(2, 40))
        x, y = np.round(rng.normal(size=(2, n)) * 2)
        scipy_tau = float(kendalltau(x, y).statistic)
        assert _tau_b(x, y, "scipy") == scipy_tau or np.isnan(scipy_tau)
        single = _tau_b(x, y, "single")
        expected = _brute_force_tau_b(x, y) if not np.isnan(scipy_tau) else np.nan
        assert single == expected or (np.isnan(single) and np.isnan(expected))
        differ += single != scipy_tau and not np.isnan(single)
    assert differ > 0  # the two roundings are not the same arithmetic


def test_errors() -> None:
    lf = _wells(nulls=False).lazy()
    with pytest.raises(ParameterError, match=r"consensus: method must be one of .*got 'max'"):
        consensus(lf, method="max")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"modz_method must be one of .*got 'tau'"):
        consensus(lf, method="modz", modz_method="tau")  # type: ignore[arg-type]
    with pytest.raises(ColumnNotFoundError, match="Metadata_Nope"):
        consensus(lf, replicate_columns=["Metadata_Nope"], method="modz")
    with pytest.raises(ColumnNotFoundError, match="Metadata_Nope"):
        consensus(lf, replicate_columns=["Metadata_Nope"])
    with pytest.raises(SchemaError, match="not numeric"):
        consensus(lf, method="modz", features=["Metadata_control_type"])
    with pytest.raises(ParameterError, match="precision must be an integer >= 0, got -1"):
        consensus(lf, method="modz", precision=-1)
    with pytest.raises(ParameterError, match="replicate_columns must be a non-empty list"):
        consensus(lf, replicate_columns=[], method="modz")


def test_case_insensitive_and_empty() -> None:
    lf = _wells(nulls=False).lazy()
    upper = consensus(lf, replicate_columns=SAMPLE, method="MODZ").collect()  # type: ignore[arg-type]
    assert upper.equals(consensus(lf, replicate_columns=SAMPLE, method="modz").collect())
    empty = consensus(lf.head(0), replicate_columns=SAMPLE, method="modz").collect()
    assert empty.height == 0
    assert empty.columns == upper.columns


@pytest.mark.parametrize("method", ["median", "mean", "modz"])
def test_nan_and_null_replicate_keys_are_one_group(method: str) -> None:
    dose = pl.Series([1.0, 1.0, float("nan"), float("nan"), None, None], nan_to_null=False)
    wells = pl.DataFrame(
        {"Metadata_dose": dose, "Cells_a": [1.0, 2, 3, 4, 5, 6], "Cells_b": [2.0, 1, 4, 3, 6, 5]}
    )
    out = consensus(wells.lazy(), replicate_columns="Metadata_dose", method=method).collect()
    assert out["Metadata_dose"].to_list() == [1.0, None]  # as pandas groups them


def _modz_both(frame: pd.DataFrame, method: str, precision: int = 4) -> tuple[list, list]:
    args = {"method": method, "precision": precision}
    theirs = pycytominer.consensus(
        frame, replicate_columns=["Metadata_g"], operation="modz", modz_args=args
    )
    ours = consensus(
        pl.from_pandas(frame).lazy(),
        replicate_columns="Metadata_g",
        method="modz",
        modz_method=method,  # type: ignore[arg-type]
        precision=precision,
    ).collect()
    columns = [c for c in frame.columns if c != "Metadata_g"]
    return ours.select(columns).rows(), [tuple(r) for r in theirs[columns].to_numpy().tolist()]


@pytest.mark.parametrize(
    ("values", "method"),
    [
        # a constant replicate beside a missing value: pandas' running mean is exact,
        # so the replicate has no spread and no weight (it used to get a third)
        (
            {"Cells_x": [0.1, 1.0, 2.0], "Cells_y": [0.1, 2.0, np.nan], "Cells_z": [0.1, 3.0, 1.0]},
            "pearson",
        ),
        # infinite values: pandas ranks them among the others before masking them
        (
            {
                "Cells_x": [-np.inf, -np.inf, 1.0],
                "Cells_y": [1.0, 2.0, 2.0],
                "Cells_z": [2.0, 1.0, 3.0],
            },
            "spearman",
        ),
        # a weight of exactly 0.21875: rounds to 0.2188 with pandas' arithmetic
        (
            {
                "Cells_a": [3.0, 4.0, 4.0, 4.0, 4.0],
                "Cells_b": [2.0, 0.0, 2.0, 0.0, 2.0],
                "Cells_c": [2.0, 4.0, 1.0, 4.0, 2.0],
                "Cells_d": [0.0, 2.0, 2.0, 3.0, 3.0],
            },
            "spearman",
        ),
    ],
    ids=["constant-replicate", "infinite-values", "rounding-boundary"],
)
def test_modz_weights_follow_pandas_arithmetic_to_the_bit(values: dict, method: str) -> None:
    frame = pd.DataFrame({"Metadata_g": "a", **values})
    ours, theirs = _modz_both(frame, method)
    np.testing.assert_array_equal(np.array(ours), np.array(theirs))


def test_modz_on_random_small_groups_equals_pycytominer() -> None:
    # weights of small integer blocks often land exactly on a rounding boundary, and
    # 11 replicates take NumPy's 8-at-a-time sums; 1e12-scale values with missing ones
    # take pandas' Welford updates
    rng = np.random.default_rng(0)
    for trial in range(60):
        k, d = int(rng.integers(2, 12)), int(rng.integers(3, 9))
        values = rng.integers(0, 5, (k, d)).astype(float)
        if trial % 3 == 0:
            values = values * 1e12 + rng.normal(size=(k, d))
            values[rng.random((k, d)) < 0.15] = np.nan
        frame = pd.DataFrame(values, columns=[f"Cells_{i}" for i in range(d)])
        frame.insert(0, "Metadata_g", "a")
        for method in ("spearman", "pearson", "kendall"):
            ours, theirs = _modz_both(frame, method, precision=2)
            # the weights are equal; the weighted sum of 8 or more replicates may differ in
            # the last bit (pandas sums them 8 at a time when a value is missing)
            np.testing.assert_allclose(
                np.array(ours),
                np.array(theirs),
                rtol=1e-12,
                atol=1e-12,
                err_msg=f"{trial} {method}",
            )
