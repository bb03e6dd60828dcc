"""compat ``feature_select`` runs consecutive engine operations in one fit: same drops.

Operations that cytoplan's ``FeatureSelector`` decides (variance, frequency,
correlation, missing values, outliers) next to each other in ``operation`` are fitted
together (shared row count and summary passes); the result must equal pycytominer's
one-operation-at-a-time loop, and errors must come in pycytominer's order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pycytominer
import pytest

from cytoplan.compat import pycytominer as compat
from cytoplan.compat.pycytominer.feature_select import _engine_run, _run_params
from cytoplan.testing.profiles import make_profiles

from .conftest import assert_same


@pytest.fixture(scope="module")
def plate() -> pd.DataFrame:
    """384 wells × 60 features (missing values, near-constant and correlated features),
    plus a constant, an outlier and a default-blocklist feature."""
    df = make_profiles(plates=1, wells=384, features=60, seed=5).to_pandas()
    return df.assign(
        Cells_constant=1.0,
        Cells_outlier=np.r_[np.zeros(383), 1e4],
        Nuclei_Granularity_14_AGP=np.linspace(0.0, 1.0, len(df)) ** 2,
    )


_RUNS = [
    ["variance_threshold", "correlation_threshold", "drop_na_columns", "blocklist"],
    ["drop_na_columns", "frequency_threshold", "variance_threshold", "drop_outliers"],
    ["correlation_threshold", "variance_threshold", "correlation_threshold"],
    ["blocklist", "drop_outliers", "drop_na_columns", "noise_removal", "variance_threshold"],
    [
        "variance_threshold",
        "frequency_threshold",
        "correlation_threshold",
        "drop_na_columns",
        "blocklist",
        "drop_outliers",
    ],
]


@pytest.mark.parametrize("operation", _RUNS, ids=lambda ops: "+".join(o[:4] for o in ops))
@pytest.mark.parametrize("samples", ["all", "Metadata_control_type != 'negcon'"])
def test_runs_match_pycytominer(plate, operation, samples):
    kwargs = {
        "operation": operation,
        "samples": samples,
        "corr_threshold": 0.8,
        "na_cutoff": 0.01,
        "outlier_cutoff": 50,
        "noise_removal_perturb_groups": "Metadata_broad_sample",
        "noise_removal_stdev_cutoff": 2.5,
    }
    ours = compat.feature_select(plate, **kwargs)
    theirs = pycytominer.feature_select(plate, **kwargs)
    assert_same(ours, theirs, rtol=0)
    assert ours.shape[1] < plate.shape[1]  # something was dropped


def test_run_grouping():
    ops = ["blocklist", "variance_threshold", "drop_na_columns", "noise_removal", "drop_outliers"]
    assert _engine_run(ops, 0) == []
    assert _engine_run(ops, 1) == ["variance_threshold", "drop_na_columns"]
    assert _engine_run(ops, 4) == ["drop_outliers"]
    good = {
        "samples": "all",
        "na_cutoff": 0.05,
        "corr_threshold": 0.9,
        "corr_method": "Pearson",
        "freq_cut": 0.05,
        "unique_cut": 0.01,
        "outlier_cutoff": 500,
        "min_variance": 1e-6,
    }
    run = ["variance_threshold", "correlation_threshold"]
    assert _run_params(run, **good) == {
        "min_variance": 1e-6,
        "corr_threshold": 0.9,
        "corr_method": "pearson",
    }
    for bad in (
        {"corr_threshold": 1.5},
        {"corr_method": "cosine"},
        {"min_variance": "0"},
        {"min_variance": float("nan")},
        {"samples": None},
    ):
        assert _run_params(run, **{**good, **bad}) is None  # one at a time, as pycytominer


def test_errors_come_in_pycytominer_order(plate):
    """The first operation's error wins over a later operation's bad parameter."""
    for module in (compat, pycytominer):
        with pytest.raises(ValueError) as first:
            module.feature_select(
                plate,
                operation=["variance_threshold", "correlation_threshold"],
                min_variance=1e12,  # no feature passes: sklearn-style error
                corr_threshold=2.0,
            )
        assert "threshold variable" not in str(first.value)
        with pytest.raises(ValueError, match="threshold variable must be between"):
            module.feature_select(
                plate,
                operation=["variance_threshold", "correlation_threshold"],
                corr_threshold=2.0,
            )


def test_noise_removal_after_every_feature_is_dropped():
    wells = pd.DataFrame({"Metadata_Well": ["A", "A", "B"], "Cells_x": [1000.0, 2000.0, 3000.0]})
    options = {
        "operation": ["drop_outliers", "noise_removal"],
        "noise_removal_perturb_groups": "Metadata_Well",
        "noise_removal_stdev_cutoff": 0.8,
    }
    ours = compat.feature_select(wells, **options)
    assert_same(ours, pycytominer.feature_select(wells, **options))
    assert ours.columns.tolist() == ["Metadata_Well"]


@pytest.mark.parametrize("operation", ["variance_threshold", "frequency_threshold"])
def test_boolean_features_are_numbers_as_in_pandas(operation):
    wells = pd.DataFrame(
        {
            "Metadata_Well": list("ABCDE"),
            "Cells_flag": [True, False, True, True, False],
            "Cells_same": [True] * 5,
            "Cells_y": [1.0, 2.0, 0.5, 3.0, 2.5],
        }
    )
    ours = compat.feature_select(wells, operation=operation)
    theirs = pycytominer.feature_select(wells, operation=operation)
    assert_same(ours, theirs)
    assert ours["Cells_flag"].dtype == bool and "Cells_same" not in ours.columns


@pytest.mark.parametrize(
    "after", ["drop_na_columns", "variance_threshold", "correlation_threshold", "drop_outliers"]
)
def test_operations_after_noise_removal_dropped_every_feature_drop_nothing(after: str) -> None:
    # they used to raise "no feature columns found" (an empty list read as no list)
    profiles = pd.DataFrame({"Metadata_g": ["a", "a", "b", "b"], "Cells_x": [0.0, 10.0, 0.0, 10.0]})
    options = {
        "features": ["Cells_x"],
        "operation": ["noise_removal", after],
        "noise_removal_perturb_groups": "Metadata_g",
        "noise_removal_stdev_cutoff": 0.5,
    }
    got = compat.feature_select(profiles, **options)
    assert list(got.columns) == ["Metadata_g"]
    if after != "variance_threshold":  # pycytominer itself raises there (see compat.md)
        expected = pycytominer.feature_select(profiles, **options)
        assert list(expected.columns) == ["Metadata_g"]
