"""feature_select vs pycytominer 1.7.1: every operation, alone and in sequences."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cytoplan.ops.blocklist import blocklist_names
from cytoplan.ops.feature_select import FeatureSelector, feature_select
from cytoplan.testing.profiles import make_profiles

pycytominer = pytest.importorskip("pycytominer")

NEGCON = "Metadata_control_type == 'negcon'"


def _profiles(*, cells_per_well: int = 1, seed: int = 3, nulls: bool = True) -> pl.DataFrame:
    df = make_profiles(
        plates=2, wells=48, cells_per_well=cells_per_well, features=36, seed=seed, nulls=nulls
    )
    rng = np.random.default_rng(seed)
    n = df.height
    extra = {
        "Cells_Constant_Tenth": np.full(n, 0.1),  # exactly constant (0.1 is inexact)
        "Nuclei_Correlation_Manders_AGP_DNA": rng.normal(size=n),  # in the default blocklist
        "Nuclei_Granularity_14_ER": rng.normal(size=n),
        "Cytoplasm_Sparse_Values": np.where(rng.random(n) < 0.1, rng.normal(size=n), np.nan),
        "Cells_Huge": rng.normal(0, 300, size=n),
    }
    return df.with_columns(pl.Series(name, values).fill_nan(None) for name, values in extra.items())


def _features(df: pl.DataFrame) -> list[str]:
    return [c for c in df.columns if not c.startswith("Metadata_")]


def _theirs(df: pl.DataFrame, **kwargs: Any) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pycytominer.feature_select(df.to_pandas(), **kwargs)


def _ours(df: pl.DataFrame, **kwargs: Any) -> tuple[pl.DataFrame, FeatureSelector]:
    translated = dict(kwargs)
    translated["operations"] = translated.pop("operation")
    if "samples" in translated:
        samples = translated.pop("samples")
        translated["reference"] = None if samples == "all" else samples
    selector = FeatureSelector(**translated).fit(df.lazy())
    return selector.transform(df.lazy()).collect(), selector


def _assert_parity(df: pl.DataFrame, **kwargs: Any) -> FeatureSelector:
    expected = _theirs(df, **kwargs)
    ours, selector = _ours(df, **kwargs)
    dropped = set(selector.dropped_["feature"].to_list())
    assert dropped == set(df.columns) - set(expected.columns)
    assert ours.columns == list(expected.columns)
    # rows untouched, in order, values identical
    assert ours.equals(pl.from_pandas(expected).cast(ours.schema))
    return selector


CASES: list[dict[str, Any]] = [
    {"operation": "variance_threshold"},
    {"operation": "variance_threshold", "min_variance": 0.8},
    {"operation": "variance_threshold", "min_variance": 0},
    {"operation": "frequency_threshold"},
    {"operation": "frequency_threshold", "freq_cut": 0.3, "unique_cut": 0.6},
    {"operation": "frequency_threshold", "freq_cut": 0.0, "unique_cut": 0.0},
    {"operation": "correlation_threshold"},
    {"operation": "correlation_threshold", "corr_threshold": 0.5},
    {"operation": "correlation_threshold", "corr_threshold": 0.3, "corr_method": "spearman"},
    {"operation": "correlation_threshold", "corr_threshold": 0.4, "corr_method": "kendall"},
    {"operation": "drop_na_columns"},
    {"operation": "drop_na_columns", "na_cutoff": 0.0},
    {"operation": "drop_na_columns", "na_cutoff": 1.0},
    {"operation": "drop_outliers"},
    {"operation": "drop_outliers", "outlier_cutoff": 15},
    {"operation": "blocklist"},
    {"operation": "blocklist", "blocklist_name": "default"},
    {
        "operation": "noise_removal",
        "noise_removal_perturb_groups": "Metadata_broad_sample",
        "noise_removal_stdev_cutoff": 1.0,
    },
    {
        "operation": "noise_removal",
        "noise_removal_perturb_groups": "Metadata_Well",
        "noise_removal_stdev_cutoff": 0.5,
    },
    {"operation": ["variance_threshold", "correlation_threshold"]},
    {"operation": ["correlation_threshold", "variance_threshold"], "corr_threshold": 0.5},
    {"operation": ["drop_na_columns", "correlation_threshold"], "corr_threshold": 0.5},
    {"operation": ["correlation_threshold", "drop_na_columns"], "corr_threshold": 0.5},
    {
        "operation": [
            "variance_threshold",
            "drop_na_columns",
            "frequency_threshold",
            "correlation_threshold",
            "blocklist",
            "drop_outliers",
        ],
        "outlier_cutoff": 100,
    },
    {"operation": ["blocklist", "blocklist", "drop_na_columns"]},
]


@pytest.mark.parametrize("samples", ["all", NEGCON])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "+".join(np.atleast_1d(c["operation"])))
def test_parity_well_level(case: dict[str, Any], samples: str) -> None:
    df = _profiles()
    _assert_parity(df, features=_features(df), samples=samples, **case)


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if "kendall" not in str(c.get("corr_method"))],
    ids=lambda c: "+".join(np.atleast_1d(c["operation"])),
)
def test_parity_single_cells(case: dict[str, Any]) -> None:
    df = _profiles(cells_per_well=4, seed=11)
    _assert_parity(df, features=_features(df), **case)


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_correlation_with_infinite_values(method: str) -> None:
    df = _profiles(nulls=False).with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(float("inf"))
        .otherwise(pl.col("Cells_AreaShape_Area_0"))
        .alias("Cells_AreaShape_Area_0")
    )
    _assert_parity(
        df,
        features=_features(df),
        operation="correlation_threshold",
        corr_threshold=0.5,
        corr_method=method,
    )


def test_parity_without_missing_values_uses_the_corrcoef_path() -> None:
    df = _profiles(nulls=False).drop("Cytoplasm_Sparse_Values")
    for threshold in (0.2, 0.5, 0.9):
        _assert_parity(
            df,
            features=_features(df),
            operation="correlation_threshold",
            corr_threshold=threshold,
        )


def test_parity_with_inferred_features() -> None:
    df = _profiles()
    _assert_parity(df, features="infer", operation=["drop_na_columns", "variance_threshold"])


def test_blocklist_custom_list_acts_on_all_columns() -> None:
    df = _profiles()
    blocked = ["Metadata_broad_sample", "Cells_Huge", "Not_A_Column"]
    selector = _assert_parity(df, features=_features(df), operation="blocklist", blocklist=blocked)
    assert selector.dropped_["feature"].to_list() == ["Metadata_broad_sample", "Cells_Huge"]
    assert "Cells_Huge" not in selector.selected_features_


def test_default_blocklist_is_pycytominers() -> None:
    from pycytominer.cyto_utils.blocklist import Blocklist

    assert blocklist_names("default") == Blocklist(blocklist_name="default").to_list()
    assert len(blocklist_names()) == 55


def test_noise_removal_with_labels() -> None:
    df = _profiles()
    labels = df["Metadata_broad_sample"].to_list()
    selector = _assert_parity(
        df,
        features=_features(df),
        operation="noise_removal",
        noise_removal_perturb_groups=labels,
        noise_removal_stdev_cutoff=1.0,
    )
    column = FeatureSelector(
        operations="noise_removal",
        features=_features(df),
        noise_removal_perturb_groups="Metadata_broad_sample",
        noise_removal_stdev_cutoff=1.0,
    ).fit(df.lazy())
    # same decisions; values equal to rounding (Polars' streaming reductions are parallel)
    assert column.dropped_.drop("value", "reason").equals(selector.dropped_.drop("value", "reason"))
    np.testing.assert_allclose(column.dropped_["value"], selector.dropped_["value"], rtol=1e-12)


def test_noise_removal_labels_with_a_reference_are_positional() -> None:
    """pycytominer aligns the labels by pandas index after the query (a bug); we by position."""
    df = _profiles()
    negcon = df.filter(pl.col("Metadata_control_type") == "negcon")
    labels = [f"g{i % 5}" for i in range(negcon.height)]
    features = _features(df)
    ours = FeatureSelector(
        operations="noise_removal",
        features=features,
        reference=NEGCON,
        noise_removal_perturb_groups=labels,
        noise_removal_stdev_cutoff=0.9,
    ).fit(df.lazy())
    # same as pycytominer on the subset alone (fresh 0..n-1 index: labels align)
    expected = _theirs(
        negcon,
        features=features,
        operation="noise_removal",
        noise_removal_perturb_groups=labels,
        noise_removal_stdev_cutoff=0.9,
    )
    assert set(ours.dropped_["feature"]) == set(negcon.columns) - set(expected.columns)


def test_exact_ties_follow_numpy_quicksort() -> None:
    """Duplicated columns tie exactly; the unstable argsort is reproduced on equal sums."""
    rng = np.random.default_rng(2)
    n = 96
    columns: dict[str, Any] = {"Metadata_Well": [f"W{i}" for i in range(n)]}
    for k in range(20):
        values = rng.normal(size=n) + (rng.normal(size=n) if k % 2 else 0.0)
        columns[f"Cells_F{k}_a"] = values
        columns[f"Cells_F{k}_b"] = values.copy()
    df = pl.DataFrame(columns)
    _assert_parity(df, features=_features(df), operation="correlation_threshold")


def test_function_matches_class() -> None:
    df = _profiles()
    kwargs: dict[str, Any] = {
        "operations": ["variance_threshold", "correlation_threshold"],
        "features": _features(df),
        "reference": NEGCON,
    }
    out = feature_select(df.lazy(), **kwargs).collect()
    assert out.equals(FeatureSelector(**kwargs).fit_transform(df.lazy()).collect())
