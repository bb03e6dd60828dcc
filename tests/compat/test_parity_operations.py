"""``operations``: selection rules and transform classes against pycytominer's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pycytominer.operations as theirs
import pytest

from cytoplan.compat.pycytominer import operations as ours

FEATURES = [
    "Cells_AreaShape_Area_0",
    "Cytoplasm_AreaShape_Area_1",
    "Nuclei_AreaShape_Area_2",
    "Cells_Intensity_MeanIntensity_DNA_3",
    "Cytoplasm_Intensity_MeanIntensity_DNA_4",
    "Nuclei_Intensity_MeanIntensity_DNA_5",
]
NEGCON = "Metadata_control_type == 'negcon'"


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("variance_threshold", {}),
        ("variance_threshold", {"min_variance": 0.5}),
        ("variance_threshold", {"min_variance": 0.5, "samples": NEGCON}),
        ("variance_threshold", {"features": FEATURES[:3], "min_variance": 0}),
        ("frequency_threshold", {"freq_cut": 0.3, "unique_cut": 0.5}),
        ("frequency_threshold", {"samples": NEGCON, "unique_cut": 0.9}),
        ("correlation_threshold", {}),
        ("correlation_threshold", {"threshold": 0.5, "method": "Spearman"}),
        ("correlation_threshold", {"threshold": 0.5, "method": "kendall", "samples": NEGCON}),
        ("get_na_columns", {"cutoff": 0.0}),
        ("get_na_columns", {"cutoff": 0.0, "samples": NEGCON}),
    ],
    ids=lambda v: str(v),
)
def test_selection_rules_match(wells_nan, name, kwargs):
    frame = wells_nan.assign(Cells_constant=1.0)
    got = getattr(ours, name)(frame, **kwargs)
    expected = getattr(theirs, name)(frame, **kwargs)
    assert sorted(got) == sorted(expected)
    assert len(got) == len(set(got))


def test_selection_rules_drop_something(wells_nan):
    frame = wells_nan.assign(Cells_constant=1.0)
    assert ours.variance_threshold(frame) == ["Cells_constant"]
    assert ours.get_na_columns(frame, cutoff=0.0)


@pytest.mark.parametrize("groups", ["Metadata_broad_sample", "list"])
@pytest.mark.parametrize("samples", ["all", NEGCON])
def test_noise_removal_matches(wells, groups, samples):
    frame = wells
    subset = frame if samples == "all" else frame.query(samples)
    labels = list(subset["Metadata_broad_sample"]) if groups == "list" else groups
    kwargs = {"samples": samples, "noise_removal_stdev_cutoff": 0.5}
    got = ours.noise_removal(frame, labels, **kwargs)
    assert sorted(got) == sorted(theirs.noise_removal(frame, labels, **kwargs))


def test_calculate_frequency_matches():
    for values in ([1, 1, 1, 2], [1.0], [np.nan, 1.0, 2.0, 2.0], ["a", "b", "b", "b", "c"]):
        series = pd.Series(values)
        assert ours.calculate_frequency(series) == theirs.calculate_frequency(series)


def test_selection_rule_errors(wells):
    cases = [
        ("variance_threshold", {"min_variance": -1}),
        ("variance_threshold", {"min_variance": "x"}),
        ("variance_threshold", {"samples": 3}),
        ("variance_threshold", {"features": "Cells_AreaShape_Area_0"}),
        ("frequency_threshold", {"freq_cut": 2}),
        ("frequency_threshold", {"unique_cut": -0.1}),
        ("frequency_threshold", {"samples": None}),
        ("correlation_threshold", {"threshold": 1.5}),
        ("correlation_threshold", {"method": "cosine"}),
        ("get_na_columns", {"cutoff": 2}),
    ]
    for name, kwargs in cases:
        for module in (ours, theirs):
            with pytest.raises(ValueError):
                getattr(module, name)(wells, **kwargs)
    for module in (ours, theirs):
        with pytest.raises(ValueError, match="not found"):
            module.noise_removal(wells, "Metadata_nope")
        with pytest.raises(ValueError, match="length"):
            module.noise_removal(wells, ["a", "b"])
        with pytest.raises(TypeError):
            module.noise_removal(wells, 3)


def test_determine_high_cor_pair_matches():
    from pycytominer.operations.correlation_threshold import determine_high_cor_pair as theirs_pair

    from cytoplan.compat.pycytominer.operations.correlation_threshold import (
        determine_high_cor_pair as ours_pair,
    )

    row = pd.Series({"pair_a": "x", "pair_b": "y", "correlation": 0.95})
    for order in (["x", "y"], ["y", "x"]):
        assert ours_pair(row, pd.Index(order)) == theirs_pair(row, pd.Index(order))


# ------------------------------------------------------------------ transforms


@pytest.mark.parametrize("method", ["ZCA", "ZCA-cor", "PCA", "PCA-cor"])
@pytest.mark.parametrize("center", [True, False])
def test_spherize_class_matches(wells, method, center):
    if method.endswith("-cor") and not center:
        for cls in (ours.Spherize, theirs.Spherize):
            with pytest.raises(ValueError, match="center=True"):
                cls(method=method, center=center)
        return
    x = wells[FEATURES]
    a = ours.Spherize(method=method, center=center).fit(x)
    b = theirs.Spherize(method=method, center=center).fit(x)
    out_a, out_b = a.transform(x), b.transform(x)
    assert list(out_a.columns) == list(out_b.columns)
    assert list(a.columns) == list(b.columns)
    if method.startswith("PCA"):  # singular vectors: sign is arbitrary
        signs = np.sign((out_a.to_numpy() * out_b.to_numpy()).sum(axis=0))
        np.testing.assert_allclose(out_a.to_numpy() * signs, out_b.to_numpy(), atol=1e-7)
        np.testing.assert_allclose(np.abs(a.W), np.abs(b.W), atol=1e-7)
    else:
        np.testing.assert_allclose(out_a.to_numpy(), out_b.to_numpy(), atol=1e-7)
        np.testing.assert_allclose(a.W, b.W, atol=1e-7)


def test_spherize_errors(wells):
    for cls in (ours.Spherize, theirs.Spherize):
        with pytest.raises(ValueError, match="not supported"):
            cls(method="zca")
    constant = wells[FEATURES].assign(Cells_constant=1.0)
    for cls in (ours.Spherize, theirs.Spherize):
        with pytest.raises(ValueError):
            cls(method="ZCA-cor").fit(constant)
    nan = wells[FEATURES].copy()
    nan.iloc[0, 0] = np.nan
    for cls in (ours.Spherize, theirs.Spherize):
        with pytest.raises(np.linalg.LinAlgError):
            cls().fit(nan)


@pytest.mark.parametrize("epsilon", [1e-18, 0.5])
def test_robust_mad_matches(wells_nan, epsilon):
    x = wells_nan[FEATURES]
    a = ours.RobustMAD(epsilon=epsilon).fit(x)
    b = theirs.RobustMAD(epsilon=epsilon).fit(x)
    pd.testing.assert_series_equal(a.median, b.median, check_names=False)
    np.testing.assert_allclose(a.mad.to_numpy(), b.mad.to_numpy(), rtol=1e-12)
    pd.testing.assert_frame_equal(a.transform(x), b.transform(x), rtol=1e-9)


@pytest.mark.parametrize("n_quantiles", [1000, 5])
def test_inverse_normal_matches(wells_nan, n_quantiles):
    x = wells_nan[FEATURES]
    a = ours.InverseNormalTransform(n_quantiles=n_quantiles).fit(x)
    b = theirs.InverseNormalTransform(n_quantiles=n_quantiles).fit(x)
    assert a.n_quantiles_ == b.n_quantiles_
    np.testing.assert_allclose(a.transform(x), b.transform(x), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("RobustMAD", {"epsilon": 0.5}),
        ("Spherize", {"method": "ZCA-cor", "epsilon": 1e-3}),
        ("InverseNormalTransform", {"n_quantiles": 5}),
    ],
)
def test_transform_classes_are_sklearn_estimators(wells, name, params):
    """``clone``, ``get_params`` and ``set_params`` as on pycytominer's sklearn classes."""
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline

    X = wells.loc[:, FEATURES]
    mine, reference = getattr(ours, name)(**params), getattr(theirs, name)(**params)
    assert clone(mine).get_params() == clone(reference).get_params() == mine.get_params()
    assert type(clone(mine)) is type(mine)
    changed = getattr(ours, name)().set_params(**params)
    expected = getattr(theirs, name)().set_params(**params).fit_transform(X)
    np.testing.assert_allclose(
        np.asarray(changed.fit_transform(X)), np.asarray(expected), rtol=1e-6, atol=1e-9
    )
    np.testing.assert_allclose(
        np.asarray(make_pipeline(clone(mine)).fit_transform(X)),
        np.asarray(expected),
        rtol=1e-6,
        atol=1e-9,
    )
    for estimator in (mine, reference):
        with pytest.raises(ValueError, match="Invalid parameter"):
            estimator.set_params(nope=1)
