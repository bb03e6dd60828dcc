"""Bad arguments of every operation raise ParameterError naming the parameter, value and choices.

ParameterError is a CytoplanError (the CLI reports it as one line) and a ValueError
(what Python code expects of a bad argument).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from cytoplan.cli import main
from cytoplan.exceptions import CytoplanError, ParameterError
from cytoplan.ops.aggregate import aggregate
from cytoplan.ops.annotate import annotate, annotate_cmap
from cytoplan.ops.blocklist import blocklist_names, resolve_blocklist
from cytoplan.ops.consensus import consensus, modz
from cytoplan.ops.feature_select import FeatureSelector, feature_select
from cytoplan.ops.normalize import InverseNormal, MADRobustize, Spherize
from cytoplan.testing.profiles import make_profiles

WELLS = make_profiles(plates=1, wells=12, features=4, seed=5, nulls=False)
CELLS = WELLS.with_columns(
    pl.lit("1").alias("Metadata_Site"), pl.int_range(pl.len()).alias("Metadata_ObjectNumber")
)
PLATEMAP = pl.DataFrame(
    {
        "well_position": WELLS["Metadata_Well"],
        "broad_sample": ["BRD-K0001-01"] * WELLS.height,
    }
)
FEATURE_OPTIONS = (
    "'variance_threshold', 'frequency_threshold', 'correlation_threshold', "
    "'drop_na_columns', 'blocklist', 'drop_outliers', 'noise_removal'"
)


def _lf() -> pl.LazyFrame:
    return WELLS.lazy()


# (id, call, the exact message) — the message names the parameter, the value and
# what is allowed
CASES: list[tuple[str, Callable[[], Any], str]] = [
    # aggregate
    (
        "aggregate-method",
        lambda: aggregate(CELLS.lazy(), method="max"),  # type: ignore[arg-type]
        "aggregate: method must be one of 'median', 'mean', got 'max'",
    ),
    (
        "aggregate-strata-empty",
        lambda: aggregate(CELLS.lazy(), strata=[]),
        "strata must be a non-empty list of column names, got []",
    ),
    (
        "aggregate-strata-repeated",
        lambda: aggregate(CELLS.lazy(), strata=["Metadata_Well", "Metadata_Well"]),
        "strata must be a list of distinct column names, got ['Metadata_Well', "
        "'Metadata_Well']; ['Metadata_Well'] repeated",
    ),
    (
        "aggregate-strata-kind",
        lambda: aggregate(CELLS.lazy(), strata=3),  # type: ignore[arg-type]
        "strata must be a column name or a list of column names, got 3",
    ),
    (
        "aggregate-fields-of-view-text",
        lambda: aggregate(CELLS.lazy(), fields_of_view="some"),  # type: ignore[arg-type]
        "fields_of_view must be 'all' or a list of sites, got 'some'",
    ),
    (
        "aggregate-fields-of-view-empty",
        lambda: aggregate(CELLS.lazy(), fields_of_view=[]),
        "fields_of_view must be 'all' or a list of sites, got []",
    ),
    (
        "aggregate-subset-without-columns",
        lambda: aggregate(CELLS.lazy(), subset=pl.DataFrame()),
        "subset must be a table of key columns (e.g. Metadata_ImageNumber, "
        "Metadata_ObjectNumber), got a table without columns; give the key columns of "
        "the cells to keep",
    ),
    # annotate
    (
        "annotate-join-on-length",
        lambda: annotate(_lf(), PLATEMAP, join_on=["a", "b", "c"]),
        "join_on must be a column name or [platemap column, profile column], got "
        "['a', 'b', 'c']; e.g. ['Metadata_well_position', 'Metadata_Well']",
    ),
    (
        "annotate-unmatched",
        lambda: annotate(_lf(), PLATEMAP, unmatched="keep"),  # type: ignore[arg-type]
        "annotate: unmatched must be one of 'raise', 'drop', got 'keep'",
    ),
    (
        "annotate-duplicates",
        lambda: annotate(_lf(), PLATEMAP, duplicates="first"),  # type: ignore[arg-type]
        "annotate: duplicates must be one of 'raise', 'allow', got 'first'",
    ),
    (
        "annotate-order",
        lambda: annotate(_lf(), PLATEMAP, order="sorted"),  # type: ignore[arg-type]
        "annotate: order must be one of 'platemap', 'profiles', got 'sorted'",
    ),
    (
        "annotate-external-join-on-alone",
        lambda: annotate(_lf(), PLATEMAP, external_join_on=["Metadata_Well"]),
        "annotate: external_metadata must be given with external_join_on (give both or "
        "neither), got external_metadata=None",
    ),
    (
        "annotate-external-metadata-alone",
        lambda: annotate(_lf(), PLATEMAP, external_metadata=PLATEMAP),
        "annotate: external_join_on must be given with external_metadata (give both or "
        "neither), got external_join_on=None",
    ),
    (
        "annotate-external-join-on-empty",
        lambda: annotate(
            _lf(), PLATEMAP, external_metadata=PLATEMAP, external_join_on=[], unmatched="drop"
        ),
        "external_join_on must be a column name or a non-empty list of column names "
        "shared with the profiles, got []",
    ),
    (
        "annotate-cmap-args-key",
        lambda: annotate(
            _lf(), PLATEMAP, format_broad_cmap=True, cmap_args={"perturbation": "chemical"}
        ),
        "annotate: cmap_args must be a mapping with keys among ['cell_id', "
        "'perturbation_mode'], got {'perturbation': 'chemical'}; unknown key(s) "
        "['perturbation']",
    ),
    (
        "annotate-perturbation-mode",
        lambda: annotate_cmap(_lf(), join_on="Metadata_Well", perturbation_mode="x"),  # type: ignore[arg-type]
        "perturbation_mode must be one of 'none', 'chemical', 'genetic', got 'x'",
    ),
    # blocklists
    (
        "blocklist-name",
        lambda: blocklist_names("nope"),
        "blocklist_name must be the name of a packaged blocklist (one of 'default'), got "
        "'nope'; unknown packaged blocklist; to block columns by name pass "
        "blocklist=[...] (a list of column names)",
    ),
    (
        "blocklist-kind",
        lambda: resolve_blocklist([1, 2]),  # type: ignore[list-item]
        "blocklist must be a list of column names (strings) or the name of a packaged "
        "blocklist, got [1, 2]",
    ),
    # consensus and modz
    (
        "consensus-method",
        lambda: consensus(_lf(), method="max"),  # type: ignore[arg-type]
        "consensus: method must be one of 'median', 'mean', 'modz', got 'max'",
    ),
    (
        "consensus-modz-method",
        lambda: consensus(_lf(), method="modz", modz_method="tau"),  # type: ignore[arg-type]
        "consensus: modz_method must be one of 'spearman', 'pearson', 'kendall', got 'tau'",
    ),
    (
        "modz-method",
        lambda: modz(_lf(), method="tau"),  # type: ignore[arg-type]
        "modz (correlation method): method must be one of 'spearman', 'pearson', 'kendall', "
        "got 'tau'",
    ),
    (
        "modz-kendall-rounding",
        lambda: modz(_lf(), method="kendall", kendall_rounding="twice"),  # type: ignore[arg-type]
        "modz: kendall_rounding must be one of 'scipy', 'single', got 'twice'",
    ),
    (
        "consensus-precision-negative",
        lambda: consensus(_lf(), method="modz", precision=-1),
        "modz: precision must be an integer >= 0, got -1; decimals of the weights",
    ),
    (
        "consensus-precision-float",
        lambda: consensus(_lf(), method="modz", precision=2.5),  # type: ignore[arg-type]
        "modz: precision must be an integer >= 0, got 2.5; decimals of the weights",
    ),
    (
        "consensus-min-weight-text",
        lambda: consensus(_lf(), method="modz", min_weight="0.1"),  # type: ignore[arg-type]
        "modz: min_weight must be a finite number, got '0.1'",
    ),
    (
        "consensus-min-weight-nan",
        lambda: consensus(_lf(), method="modz", min_weight=float("nan")),
        "modz: min_weight must be a finite number, got nan",
    ),
    (
        "consensus-replicate-columns-empty",
        lambda: consensus(_lf(), replicate_columns=[]),
        "replicate_columns must be a non-empty list of column names, got []; name the "
        "columns that identify replicates",
    ),
    (
        "consensus-replicate-columns-repeated",
        lambda: consensus(_lf(), replicate_columns=["Metadata_Well", "Metadata_Well"]),
        "replicate_columns must be a list of distinct column names, got ['Metadata_Well', "
        "'Metadata_Well']; ['Metadata_Well'] repeated",
    ),
    (
        "consensus-replicate-columns-kind",
        lambda: consensus(_lf(), replicate_columns=[1]),  # type: ignore[list-item]
        "replicate_columns must be a column name or a list of column names, got [1]",
    ),
    # feature_select
    (
        "feature-select-operation",
        lambda: feature_select(_lf(), operations="variance"),  # type: ignore[arg-type]
        "feature_select: operations must be an operation name or a non-empty list of them "
        f"(one of {FEATURE_OPTIONS}), got 'variance'; unknown operation(s) ['variance']",
    ),
    (
        "feature-select-no-operation",
        lambda: feature_select(_lf(), operations=[]),
        "feature_select: operations must be an operation name or a non-empty list of them "
        f"(one of {FEATURE_OPTIONS}), got []",
    ),
    (
        "feature-select-freq-cut",
        lambda: feature_select(_lf(), operations="frequency_threshold", freq_cut=1.5),
        "feature_select: freq_cut must be a number between 0 and 1, got 1.5",
    ),
    (
        "feature-select-unique-cut",
        lambda: feature_select(_lf(), operations="frequency_threshold", unique_cut=-0.1),
        "feature_select: unique_cut must be a number between 0 and 1, got -0.1",
    ),
    (
        "feature-select-na-cutoff",
        lambda: feature_select(_lf(), operations="drop_na_columns", na_cutoff=float("nan")),
        "feature_select: na_cutoff must be a number between 0 and 1, got nan",
    ),
    (
        "feature-select-corr-threshold",
        lambda: feature_select(_lf(), corr_threshold=float("inf")),
        "feature_select: corr_threshold must be a number between 0 and 1, got inf",
    ),
    (
        "feature-select-min-variance",
        lambda: feature_select(_lf(), min_variance=-1e-6),
        "feature_select: min_variance must be a number >= 0, got -1e-06",
    ),
    (
        "feature-select-outlier-cutoff",
        lambda: feature_select(_lf(), outlier_cutoff="500"),  # type: ignore[arg-type]
        "feature_select: outlier_cutoff must be a number, got '500'",
    ),
    (
        "feature-select-corr-method",
        lambda: feature_select(_lf(), corr_method="distance"),  # type: ignore[arg-type]
        "feature_select: corr_method must be one of 'pearson', 'spearman', 'kendall', "
        "got 'distance'",
    ),
    (
        "feature-select-noise-groups-missing",
        lambda: feature_select(_lf(), operations="noise_removal", noise_removal_stdev_cutoff=1.0),
        "feature_select: noise_removal_perturb_groups must be a column name or one label "
        "per reference row, got None; noise_removal needs both noise_removal_perturb_groups "
        "and noise_removal_stdev_cutoff",
    ),
    (
        "feature-select-noise-cutoff-missing",
        lambda: feature_select(
            _lf(), operations="noise_removal", noise_removal_perturb_groups="Metadata_Well"
        ),
        "feature_select: noise_removal_stdev_cutoff must be a number, got None; "
        "noise_removal needs both noise_removal_perturb_groups and noise_removal_stdev_cutoff",
    ),
    (
        "feature-select-noise-cutoff-nan",
        lambda: feature_select(
            _lf(),
            operations="noise_removal",
            noise_removal_perturb_groups="Metadata_Well",
            noise_removal_stdev_cutoff=float("nan"),
        ),
        "feature_select: noise_removal_stdev_cutoff must be a number, got nan",
    ),
    (
        "feature-select-noise-groups-kind",
        lambda: feature_select(
            _lf(),
            operations="noise_removal",
            noise_removal_perturb_groups=3,  # type: ignore[arg-type]
            noise_removal_stdev_cutoff=1.0,
        ),
        "feature_select: noise_removal_perturb_groups must be a column name or a list of "
        "labels (one per reference row), got 3",
    ),
    (
        "feature-select-noise-labels-length",
        lambda: feature_select(
            _lf(),
            operations="noise_removal",
            noise_removal_perturb_groups=["a", "b"],
            noise_removal_stdev_cutoff=1.0,
        ),
        "feature_select: noise_removal_perturb_groups must be a column name or one label "
        "per reference row (12 labels), got a list of length 2",
    ),
    (
        "feature-select-blocklist-name",
        lambda: feature_select(_lf(), operations="blocklist", blocklist_name="nope"),
        "blocklist_name must be the name of a packaged blocklist (one of 'default'), got "
        "'nope'; unknown packaged blocklist; to block columns by name pass "
        "blocklist=[...] (a list of column names)",
    ),
    (
        "feature-select-blocklist-text",
        lambda: feature_select(_lf(), operations="blocklist", blocklist="Cells_a"),
        "blocklist must be the name of a packaged blocklist (one of 'default'), got "
        "'Cells_a'; unknown packaged blocklist; to block columns by name pass "
        "blocklist=[...] (a list of column names)",
    ),
    # normalizers
    (
        "mad-robustize-epsilon-negative",
        lambda: MADRobustize(epsilon=-1e-18).fit(_lf()),
        "mad_robustize: epsilon must be a number >= 0, got -1e-18; default 1e-18",
    ),
    (
        "mad-robustize-epsilon-kind",
        lambda: MADRobustize(epsilon=None).fit(_lf()),  # type: ignore[arg-type]
        "mad_robustize: epsilon must be a number >= 0, got None; default 1e-18",
    ),
    (
        "spherize-method",
        lambda: Spherize(method="zca").fit(_lf()),  # type: ignore[arg-type]
        "spherize: method must be one of 'PCA', 'ZCA', 'PCA-cor', 'ZCA-cor', got 'zca'; "
        "case-sensitive",
    ),
    (
        "spherize-center-kind",
        lambda: Spherize(center="yes").fit(_lf()),  # type: ignore[arg-type]
        "spherize: center must be True or False, got 'yes'",
    ),
    (
        "spherize-center-cor",
        lambda: Spherize(method="PCA-cor", center=False).fit(_lf()),
        "spherize: center must be True with method 'PCA-cor', got False; PCA-cor "
        "standardizes the data and needs center=True",
    ),
    (
        "spherize-epsilon-negative",
        lambda: Spherize(epsilon=-1e-6).fit(_lf()),
        "spherize: epsilon must be a number >= 0, got -1e-06; default 1e-6",
    ),
    (
        "spherize-epsilon-infinite",
        lambda: Spherize(epsilon=float("inf")).fit(_lf()),
        "spherize: epsilon must be a number >= 0, got inf; default 1e-6",
    ),
    (
        "inverse-normal-n-quantiles",
        lambda: InverseNormal(n_quantiles=0).fit(_lf()),
        "inverse_normal: n_quantiles must be an integer >= 1, got 0",
    ),
    (
        "inverse-normal-n-quantiles-bool",
        lambda: InverseNormal(n_quantiles=True).fit(_lf()),
        "inverse_normal: n_quantiles must be an integer >= 1, got True",
    ),
]


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_parameter_raises_parameter_error(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        call()
    assert str(caught.value) == message
    assert isinstance(caught.value, CytoplanError)
    assert isinstance(caught.value, ValueError)


def test_selector_validates_before_reading_data() -> None:
    # a bad argument is reported even when the frame has no feature at all
    empty = pl.LazyFrame({"Metadata_Well": ["A01"]})
    with pytest.raises(ParameterError, match=re.escape("freq_cut must be a number between")):
        FeatureSelector(operations="frequency_threshold", freq_cut=2.0).fit(empty)


def test_good_parameters_at_the_edges_are_accepted() -> None:
    # the closed bounds are allowed (pycytominer accepts 0 and 1), and so are infinite
    # cutoffs where they mean "never drop"
    kept = feature_select(
        _lf(), operations="frequency_threshold", freq_cut=0.0, unique_cut=0.0
    ).collect()
    assert kept.columns == WELLS.columns
    kept = feature_select(_lf(), operations="drop_outliers", outlier_cutoff=float("inf")).collect()
    assert kept.columns == WELLS.columns
    zero = MADRobustize(epsilon=0).fit(_lf())
    assert zero.stats_["scale"].to_list() == zero.stats_["mad"].to_list()


def test_cli_reports_a_parameter_error_as_one_line(tmp_path: Path) -> None:
    source = tmp_path / "wells.parquet"
    WELLS.write_parquet(source)
    target = tmp_path / "out.parquet"
    runner = CliRunner()
    cases = [
        (
            ["feature-select", str(source), str(target), "--freq-cut", "2"],
            "error: feature_select: freq_cut must be a number between 0 and 1, got 2.0\n",
        ),
        (
            [
                *("normalize", str(source), str(target)),
                *("--method", "mad_robustize", "--mad-robustize-epsilon", "-1"),
            ],
            "error: mad_robustize: epsilon must be a number >= 0, got -1.0; default 1e-18\n",
        ),
    ]
    for args, expected in cases:
        result = runner.invoke(main, args)
        assert result.exit_code == 1
        assert result.stderr == expected
        assert not target.exists()
