"""FeatureSelector: the drop report, laziness, fit/transform, and clear errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import polars.selectors as cs
import pytest

from cytoplan.exceptions import (
    ColumnNotFoundError,
    CytoplanError,
    NotFittedError,
    ParameterError,
    SchemaError,
    StatisticsError,
)
from cytoplan.ops.blocklist import packaged_blocklists, resolve_blocklist
from cytoplan.ops.feature_select import FeatureSelector, feature_select


@pytest.fixture
def profiles() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    base = rng.normal(size=n)
    frame = pl.DataFrame(
        {
            "Metadata_Well": [f"W{i:02d}" for i in range(n)],
            "Metadata_group": [f"g{i % 4}" for i in range(n)],
            "Metadata_control_type": ["negcon" if i % 2 else "trt" for i in range(n)],
            "Cells_a": base,
            "Cells_copy": base * 2 + rng.normal(0, 0.01, n),
            "Cells_anti": -base,
            "Cells_flat": np.full(n, 3.0),
            "Cells_holes": np.where(np.arange(n) < 10, np.nan, rng.normal(size=n)),
            "Nuclei_big": rng.normal(0, 1, n) * 1000,
            "Nuclei_Granularity_14_ER": rng.normal(size=n),
            "Image_Count": np.arange(n, dtype=float),
        }
    )
    return frame.with_columns(pl.col("Cells_holes").fill_nan(None))


def _fit(df: pl.DataFrame, **kwargs: Any) -> FeatureSelector:
    return FeatureSelector(**kwargs).fit(df.lazy())


def test_dropped_report(profiles: pl.DataFrame) -> None:
    selector = _fit(
        profiles,
        operations=[
            "variance_threshold",
            "drop_na_columns",
            "correlation_threshold",
            "drop_outliers",
            "blocklist",
        ],
    )
    report = selector.dropped_
    assert report.columns == [
        "feature",
        "operation",
        "statistic",
        "value",
        "threshold",
        "partner",
        "reason",
    ]
    assert report.select("feature", "operation").rows() == [
        ("Cells_flat", "variance_threshold"),
        ("Cells_holes", "drop_na_columns"),
        ("Cells_copy", "correlation_threshold"),
        ("Nuclei_big", "drop_outliers"),
        ("Nuclei_Granularity_14_ER", "blocklist"),
    ]
    rows = {row["feature"]: row for row in report.iter_rows(named=True)}
    assert rows["Cells_flat"]["value"] == 0.0
    assert rows["Cells_holes"]["value"] == pytest.approx(0.25)
    assert rows["Cells_copy"]["partner"] == "Cells_a"
    assert rows["Cells_copy"]["value"] == pytest.approx(
        np.corrcoef(profiles["Cells_a"], profiles["Cells_copy"])[0, 1], rel=1e-12
    )
    assert rows["Nuclei_big"]["value"] == pytest.approx(profiles["Nuclei_big"].abs().max())
    assert "0.25 of values missing > na_cutoff 0.05" in rows["Cells_holes"]["reason"]
    # anti-correlation never drops (signed rule)
    assert "Cells_anti" in selector.selected_features_
    assert selector.feature_names_in_ == [
        c for c in profiles.columns if c.startswith(("Cells", "Nuclei"))
    ]
    assert selector.selected_features_ == ["Cells_a", "Cells_anti"]
    assert selector.n_samples_seen_ == 40


def test_transform_keeps_rows_and_column_order(profiles: pl.DataFrame) -> None:
    lf = profiles.lazy()
    out = feature_select(lf, operations=["variance_threshold", "drop_na_columns"])
    assert isinstance(out, pl.LazyFrame)
    collected = out.collect()
    assert collected.columns == [
        c for c in profiles.columns if c not in ("Cells_flat", "Cells_holes")
    ]
    assert collected.equals(profiles.drop("Cells_flat", "Cells_holes"))


def test_fit_on_one_frame_apply_to_another(profiles: pl.DataFrame) -> None:
    selector = _fit(profiles.head(20), operations="variance_threshold")
    other = profiles.tail(20)
    assert selector.transform(other.lazy()).collect().columns == [
        c for c in other.columns if c != "Cells_flat"
    ]
    with pytest.raises(ColumnNotFoundError, match="Cells_a"):
        selector.transform(other.drop("Cells_a").lazy())


def test_reference_subset(profiles: pl.DataFrame) -> None:
    df = profiles.with_columns(
        pl.when(pl.col("Metadata_control_type") == "negcon")
        .then(1.0)
        .otherwise(pl.col("Cells_a"))
        .alias("Cells_a")
    )
    query = _fit(df, operations="variance_threshold", reference="Metadata_control_type == 'negcon'")
    expr = _fit(
        df, operations="variance_threshold", reference=pl.col("Metadata_control_type") == "negcon"
    )
    assert query.dropped_["feature"].to_list() == ["Cells_a", "Cells_flat"]
    assert expr.dropped_.equals(query.dropped_)
    assert query.n_samples_seen_ == 20
    everything = _fit(df, operations="variance_threshold", reference="all")
    assert everything.dropped_["feature"].to_list() == ["Cells_flat"]


def test_feature_specs(profiles: pl.DataFrame) -> None:
    by_list = _fit(profiles, operations="variance_threshold", features=["Cells_a", "Cells_flat"])
    assert by_list.feature_names_in_ == ["Cells_a", "Cells_flat"]
    by_selector = _fit(profiles, operations="variance_threshold", features=cs.starts_with("Image_"))
    assert by_selector.feature_names_in_ == ["Image_Count"]
    inferred = _fit(profiles, operations="variance_threshold", features="infer")
    assert inferred.feature_names_in_ == [
        c for c in profiles.columns if c.startswith(("Cells", "Nuclei"))
    ]


def test_min_variance_zero_uses_peak_to_peak() -> None:
    df = pl.DataFrame({"Cells_tenth": [0.1] * 7, "Cells_ok": [1.0, 2, 3, 4, 5, 6, 7]})
    assert _fit(df, operations="variance_threshold", min_variance=0).dropped_[
        "feature"
    ].to_list() == ["Cells_tenth"]


def test_all_missing_column_fails_variance(profiles: pl.DataFrame) -> None:
    df = profiles.with_columns(pl.lit(None, dtype=pl.Float64).alias("Cells_empty"))
    report = _fit(df, operations="variance_threshold").dropped_
    assert (
        report.filter(pl.col("feature") == "Cells_empty")["reason"]
        .item()
        .startswith("variance missing")
    )


def test_integer_features_and_nan_as_missing() -> None:
    df = pl.DataFrame(
        {"Cells_int": [1, 2, 3, 4], "Cells_nan": [1.0, float("nan"), float("nan"), 4.0]}
    )
    report = _fit(df, operations="drop_na_columns", na_cutoff=0.4).dropped_
    assert report["feature"].to_list() == ["Cells_nan"]
    assert report["value"].item() == 0.5


def test_frequency_counts_zero_and_negative_zero_as_one_value() -> None:
    values = [0.0, -0.0] * 10 + [1.0]
    df = pl.DataFrame({"Cells_z": values, "Cells_ok": [float(i % 7) for i in range(21)]})
    report = _fit(df, operations="frequency_threshold", freq_cut=0.06).dropped_
    assert report["feature"].to_list() == ["Cells_z"]
    assert report["value"].item() == pytest.approx(1 / 20)  # 0.0 and -0.0: 20 of one value
    # a ratio of exactly 0.05 is not < 0.05, and 2 distinct / 21 rows ≥ unique_cut: kept
    assert _fit(df, operations="frequency_threshold").dropped_.height == 0


def test_blocklist_options(profiles: pl.DataFrame) -> None:
    default = _fit(profiles, operations="blocklist")
    assert default.dropped_["feature"].to_list() == ["Nuclei_Granularity_14_ER"]
    by_name = _fit(profiles, operations="blocklist", blocklist="default")
    assert by_name.dropped_.equals(default.dropped_)
    custom = _fit(profiles, operations="blocklist", blocklist=["Metadata_group", "Cells_a"])
    assert custom.dropped_["feature"].to_list() == ["Metadata_group", "Cells_a"]
    out = custom.transform(profiles.lazy()).collect_schema().names()
    assert "Metadata_group" not in out and "Cells_a" not in out
    both = resolve_blocklist(["Cells_a"], blocklist_name="default")
    assert both[-1] == "Cells_a" and len(both) == 56
    assert packaged_blocklists() == ["default"]
    with pytest.raises(
        ParameterError, match=r"blocklist must be the name of a packaged .*'Cells_a'"
    ):
        _fit(profiles, operations="blocklist", blocklist="Cells_a")


def test_noise_removal_with_missing_group_labels(profiles: pl.DataFrame) -> None:
    labels: list[Any] = [None if i % 10 == 0 else f"g{i % 3}" for i in range(40)]
    selector = _fit(
        profiles,
        operations="noise_removal",
        noise_removal_perturb_groups=labels,
        noise_removal_stdev_cutoff=5.0,
    )
    assert selector.dropped_["feature"].to_list() == ["Nuclei_big"]


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"operations": "variance"}, ParameterError, "unknown operation"),
        (
            {"operations": ["blocklist", "nope"]},
            ParameterError,
            r"unknown operation\(s\) \['nope'\]",
        ),
        ({"operations": []}, ParameterError, r"operations must be .* got \[\]"),
        ({"na_cutoff": 1.5}, ParameterError, "na_cutoff must be a number between 0 and 1"),
        ({"corr_threshold": -0.1}, ParameterError, "corr_threshold must be a number between"),
        ({"freq_cut": 2}, ParameterError, "freq_cut must be a number between 0 and 1, got 2"),
        ({"unique_cut": float("nan")}, ParameterError, "unique_cut must be a number"),
        ({"min_variance": -1}, ParameterError, "min_variance must be a number >= 0, got -1"),
        ({"min_variance": True}, ParameterError, "min_variance must be a number"),
        ({"outlier_cutoff": "500"}, ParameterError, "outlier_cutoff must be a number"),
        ({"corr_method": "distance"}, ParameterError, "corr_method must be one of"),
        ({"operations": "noise_removal"}, ParameterError, "needs both"),
        (
            {
                "operations": "noise_removal",
                "noise_removal_perturb_groups": "Metadata_x",
                "noise_removal_stdev_cutoff": 1.0,
            },
            ColumnNotFoundError,
            "Metadata_x",
        ),
        (
            {
                "operations": "noise_removal",
                "noise_removal_perturb_groups": ["a", "b"],
                "noise_removal_stdev_cutoff": 1.0,
            },
            ParameterError,
            r"one label per reference row \(40 labels\), got a list of length 2",
        ),
        (
            {
                "operations": "noise_removal",
                "noise_removal_perturb_groups": 3,
                "noise_removal_stdev_cutoff": 1.0,
            },
            ParameterError,
            "a column name or a list of labels",
        ),
        ({"features": ["Cells_a", "Metadata_Well"]}, SchemaError, "not numeric: Metadata_Well"),
        ({"features": ["Cells_zzz"]}, ColumnNotFoundError, "Cells_zzz"),
        (
            {"reference": "Metadata_control_type == 'none'"},
            StatisticsError,
            "reference rows are empty",
        ),
        ({"min_variance": 1e6}, StatisticsError, "no feature has a variance above"),
        ({"reference": "len(Metadata_Well) > 2"}, CytoplanError, "unsupported syntax"),
    ],
)
def test_errors(profiles: pl.DataFrame, kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        _fit(profiles, **kwargs)


def test_infinite_values_fail_variance_threshold(profiles: pl.DataFrame) -> None:
    df = profiles.with_columns(pl.col("Cells_a").replace(pl.col("Cells_a").first(), float("inf")))
    with pytest.raises(StatisticsError, match="infinite values: Cells_a"):
        _fit(df, operations="variance_threshold")
    # other operations accept them: |inf| is an outlier
    assert "Cells_a" in _fit(df, operations="drop_outliers").dropped_["feature"].to_list()


def test_transform_before_fit(profiles: pl.DataFrame) -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        FeatureSelector().transform(profiles.lazy())


def test_init_only_stores_parameters() -> None:
    selector = FeatureSelector(operations="nope", na_cutoff=7)  # type: ignore[arg-type]
    assert selector.operations == "nope" and selector.na_cutoff == 7


def test_small_memory_limit_gives_the_same_decisions(profiles: pl.DataFrame) -> None:
    """A tiny budget forces the streaming engine, one-column value-count blocks and
    small correlation batches; decisions and report are unchanged."""
    kwargs: dict[str, Any] = {
        "operations": [
            "drop_na_columns",
            "frequency_threshold",
            "variance_threshold",
            "drop_outliers",
            "noise_removal",
            "correlation_threshold",
        ],
        "noise_removal_perturb_groups": "Metadata_group",
        "noise_removal_stdev_cutoff": 50.0,
        "outlier_cutoff": 2000.0,
    }
    roomy = _fit(profiles, **kwargs).dropped_
    tight = _fit(profiles, memory_limit="1MiB", **kwargs).dropped_
    assert tight.drop("value", "reason").equals(roomy.drop("value", "reason"))
    np.testing.assert_allclose(tight["value"], roomy["value"], rtol=1e-12)


def test_parquet_source_with_reference(tmp_path: Any, profiles: pl.DataFrame) -> None:
    path = tmp_path / "p.parquet"
    profiles.write_parquet(path, row_group_size=8)
    kwargs: dict[str, Any] = {
        "operations": ["variance_threshold", "correlation_threshold"],
        "reference": "Metadata_control_type == 'negcon'",
        "corr_threshold": 0.5,
    }
    from_file = _fit(pl.read_parquet(path), **kwargs)
    scanned = FeatureSelector(**kwargs).fit(pl.scan_parquet(path))
    assert scanned.dropped_["feature"].to_list() == from_file.dropped_["feature"].to_list()


@pytest.mark.parametrize("memory_limit", ["1MiB", "4GiB"])
def test_constant_columns_with_gaps_follow_numpys_variance_at_min_variance_zero(
    memory_limit: str,
) -> None:
    # sklearn keeps np.nanvar for them: 0 for copies of 0.3, rounding noise for copies of
    # 0.1; cytoplan's streamed moments gave 3e-33 for 0.3 and kept the column
    import pycytominer

    n = 9000
    rng = np.random.default_rng(0)
    frame = pl.DataFrame(
        {
            "Cells_point3": np.r_[np.nan, np.full(n - 1, 0.3)],
            "Cells_point1": np.r_[np.full(n - 1, 0.1), np.nan],
            "Cells_other": rng.normal(size=n),
        }
    )
    assert np.nanvar(frame["Cells_point3"].to_numpy()) == 0.0
    assert np.nanvar(frame["Cells_point1"].to_numpy()) > 0.0
    theirs = pycytominer.feature_select(
        frame.to_pandas(), operation="variance_threshold", min_variance=0.0
    )
    ours = feature_select(
        frame.lazy(), operations="variance_threshold", min_variance=0.0, memory_limit=memory_limit
    )
    assert ours.collect_schema().names() == list(theirs.columns) == ["Cells_point1", "Cells_other"]
