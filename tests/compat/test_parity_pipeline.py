"""The five pipeline functions: the same calls through pycytominer and the compat layer."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pycytominer
import pytest

from cytoplan.compat import pycytominer as compat

from .conftest import assert_same

# ------------------------------------------------------------------ aggregate


@pytest.mark.parametrize("operation", ["median", "mean", "MEDIAN"])
@pytest.mark.parametrize("count", [False, True])
def test_aggregate_matches(cells, operation, count):
    kwargs = {"operation": operation, "compute_object_count": count}
    assert_same(compat.aggregate(cells, **kwargs), pycytominer.aggregate(cells, **kwargs))


def test_aggregate_strata_features_and_null_keys(cells):
    df = cells.copy()
    df.loc[df.index[:3], "Metadata_Well"] = None
    for kwargs in (
        {
            "strata": "Metadata_Well",
            "features": ["Cells_AreaShape_Area_0", "Nuclei_AreaShape_Area_2"],
        },
        {"strata": ["Metadata_Plate", "Metadata_Well"], "compute_object_count": True},
        {"strata": ["Metadata_control_type"], "operation": "mean"},
    ):
        assert_same(compat.aggregate(df, **kwargs), pycytominer.aggregate(df, **kwargs))


def test_aggregate_integer_strata_and_numeric_strings(cells):
    df = cells.copy()
    df["Metadata_Plate"] = df["Metadata_Plate"].str[-1].astype(int)
    df["Cells_AreaShape_Area_0"] = df["Cells_AreaShape_Area_0"].astype(str)
    assert_same(compat.aggregate(df), pycytominer.aggregate(df))


def test_aggregate_subset_data_df(cells):
    subset = cells.loc[::2, ["Metadata_Well", "Metadata_ObjectNumber"]]
    assert_same(
        compat.aggregate(cells, subset_data_df=subset),
        pycytominer.aggregate(cells, subset_data_df=subset),
    )


def _toy() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Metadata_Plate": ["P1"] * 4,
            "Metadata_Well": ["A01", "A01", "B01", "B01"],
            "Cells_A": [1.0, 2.0, 3.0, 4.0],
            "Cells_B": [1.0, 1.0, 1.0, 5.0],
        }
    )


@pytest.mark.parametrize(
    ("change", "kwargs"),
    [
        ({"ImageNumber": [1, 1, 2, 2]}, {"strata": ["Metadata_Plate", "ImageNumber"]}),
        ({"Metadata_Site": pd.array([1, None, 2, 2], dtype="Int64")}, {"strata": "Metadata_Site"}),
        (
            {"Metadata_Site": pd.array([1, None, 2, 2], dtype="Int64")},
            {
                "strata": ["Metadata_Site"],
                "compute_object_count": True,
                "object_feature": "Cells_B",
            },
        ),
        (
            {"Metadata_Well": pd.Categorical(["A01", "A01", "B01", "B01"], ["C01", "B01", "A01"])},
            {},
        ),
        ({"Metadata_Well": [1, 1, "x", "x"]}, {}),
        (
            {"Metadata_Well": [1, 1, "x", None]},
            {"compute_object_count": True, "object_feature": "Cells_A"},
        ),
        ({}, {"features": ["Cells_A", "Cells_A"]}),
        ({}, {"features": ["Cells_B", "Cells_A", "Cells_B"], "operation": "mean"}),
    ],
    ids=[
        "image_number_stratum",
        "nullable_integer_stratum",
        "nullable_integer_stratum_count",
        "categorical_order",
        "mixed_type_object_key",
        "mixed_type_object_key_null_count",
        "repeated_feature",
        "repeated_feature_mean",
    ],
)
def test_aggregate_key_dtypes_and_feature_lists(change, kwargs):
    """Keys keep pandas' group order and dtype; columns as pycytominer's (repeats too)."""
    df = _toy().assign(**change)
    pd.testing.assert_frame_equal(
        compat.aggregate(df, **kwargs), pycytominer.aggregate(df, **kwargs)
    )


def test_aggregate_non_string_feature_names():
    """``load_npz_features(metadata=False)`` gives integer column names."""
    df = _toy().rename(columns={"Cells_A": 0, "Cells_B": 1})
    for kwargs in ({"features": [0, 1]}, {"features": [1], "strata": ["Metadata_Well"]}):
        pd.testing.assert_frame_equal(
            compat.aggregate(df, **kwargs), pycytominer.aggregate(df, **kwargs)
        )


def test_aggregate_errors(cells):
    for module in (compat, pycytominer):
        with pytest.raises(ValueError, match="not supported"):
            module.aggregate(cells, operation="max")
        with pytest.raises(KeyError):
            module.aggregate(cells, strata=["Metadata_nope"])
        with pytest.raises(KeyError):
            module.aggregate(cells, compute_object_count=True, object_feature="Metadata_nope")


# ------------------------------------------------------------------ normalize


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"method": "robustize"},
        {"method": "mad_robustize"},
        {"method": "standardize", "samples": "Metadata_control_type == 'negcon'"},
        {"method": "mad_robustize", "samples": "Metadata_control_type == 'negcon'"},
        {"method": "inverse_normal"},
        {"method": "spherize"},
        {"method": "spherize", "spherize_method": "ZCA"},
        {"method": "spherize", "spherize_method": "PCA-cor", "spherize_epsilon": 1e-3},
        {"method": "spherize", "spherize_method": "ZCA", "spherize_center": False},
    ],
    ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()) or "default",
)
def test_normalize_matches(wells, kwargs):
    ours = compat.normalize(wells, **kwargs)
    theirs = pycytominer.normalize(wells, **kwargs)
    if kwargs.get("spherize_method", "").startswith("PCA"):
        # singular vectors are defined up to sign: compare column by column up to sign
        signs = np.sign((ours.iloc[:, 4:].to_numpy() * theirs.iloc[:, 4:].to_numpy()).sum(axis=0))
        ours.iloc[:, 4:] = ours.iloc[:, 4:].to_numpy() * signs
    assert_same(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("method", ["standardize", "robustize", "mad_robustize", "inverse_normal"])
def test_normalize_missing_values(wells_nan, method):
    assert_same(
        compat.normalize(wells_nan, method=method), pycytominer.normalize(wells_nan, method=method)
    )


def test_normalize_quirks_column_drop_index_passthrough(wells):
    df = wells.copy()
    df.index = pd.RangeIndex(100, 100 + len(df))
    df["TableNumber"] = 7  # neither feature nor metadata: silently dropped
    df["Image_Metadata_Barcode"] = "x"  # pass-through Image_*
    df["Metadata_cqc_flag"] = np.arange(len(df)) % 5 == 0
    for kwargs in ({}, {"drop_cosmicqc_rows": True}, {"meta_features": ["Metadata_Well"]}):
        ours = compat.normalize(df, **kwargs)
        assert "TableNumber" not in ours.columns
        assert_same(ours, pycytominer.normalize(df, **kwargs))
    assert compat.normalize(df, drop_cosmicqc_rows=True).index[0] == 101


def test_normalize_missing_value_strings(wells):
    df = wells.copy().astype({"Cells_AreaShape_Area_0": object})
    df.loc[3, "Cells_AreaShape_Area_0"] = "NA"
    df.loc[5, "Cells_AreaShape_Area_0"] = " nan "
    assert_same(compat.normalize(df), pycytominer.normalize(df))


def test_normalize_errors(wells):
    bad_text = wells.copy()
    bad_text["Cells_text"] = "abc"
    for module in (compat, pycytominer):
        with pytest.raises(ValueError, match="operation must be one"):
            module.normalize(wells, method="zscore")
        with pytest.raises(ValueError, match="single string"):
            module.normalize(wells, features="Cells_AreaShape_Area_0")
        with pytest.raises(ValueError, match="mad_robustize_epsilon"):
            module.normalize(wells, method="mad_robustize", mad_robustize_epsilon=None)
        with pytest.raises(ValueError, match="No QC columns"):
            module.normalize(wells, drop_cosmicqc_rows=True)
        with pytest.raises(ValueError, match="require center=True"):
            module.normalize(wells, method="spherize", spherize_center=False)
        with pytest.raises(ValueError, match="non-numeric"):
            module.normalize(bad_text)
    nan = wells.copy()
    nan.iloc[0, 5] = np.nan
    for module in (compat, pycytominer):
        with pytest.raises(np.linalg.LinAlgError):
            module.normalize(nan, method="spherize")


# ------------------------------------------------------------------ feature_select

_OPS = [
    ("variance_threshold", {}),
    ("variance_threshold", {"min_variance": 0.5}),
    ("frequency_threshold", {"freq_cut": 0.3, "unique_cut": 0.5}),
    ("correlation_threshold", {}),
    ("correlation_threshold", {"corr_threshold": 0.5, "corr_method": "spearman"}),
    ("correlation_threshold", {"corr_threshold": 0.5, "corr_method": "kendall"}),
    ("drop_na_columns", {"na_cutoff": 0.0}),
    ("drop_outliers", {"outlier_cutoff": 3}),
    ("blocklist", {"blocklist": ["Cells_AreaShape_Area_0", "Metadata_broad_sample"]}),
    ("blocklist", {}),
    (
        "noise_removal",
        {
            "noise_removal_perturb_groups": "Metadata_broad_sample",
            "noise_removal_stdev_cutoff": 1.0,
        },
    ),
]


@pytest.mark.parametrize(
    ("operation", "kwargs"), _OPS, ids=[f"{o}{i}" for i, (o, _) in enumerate(_OPS)]
)
def test_feature_select_matches(wells_nan, operation, kwargs):
    # a constant feature and a feature on the packaged default blocklist
    frame = wells_nan.assign(
        Cells_constant=1.0,
        Nuclei_Granularity_14_AGP=np.linspace(0.0, 1.0, len(wells_nan)) ** 2,
    )
    ours = compat.feature_select(frame, operation=operation, **kwargs)
    theirs = pycytominer.feature_select(frame, operation=operation, **kwargs)
    assert_same(ours, theirs)


def test_feature_select_sequence_and_samples(wells_nan):
    ops = ["drop_na_columns", "correlation_threshold", "variance_threshold", "drop_outliers"]
    for kwargs in (
        {"operation": ops, "outlier_cutoff": 5},
        {"operation": ops, "samples": "Metadata_control_type == 'negcon'", "corr_threshold": 0.6},
    ):
        assert_same(
            compat.feature_select(wells_nan, **kwargs),
            pycytominer.feature_select(wells_nan, **kwargs),
        )


def test_feature_select_noise_removal_label_list(wells):
    labels = list(wells["Metadata_broad_sample"])
    kwargs = {
        "operation": "noise_removal",
        "noise_removal_perturb_groups": labels,
        "noise_removal_stdev_cutoff": 0.9,
    }
    assert_same(compat.feature_select(wells, **kwargs), pycytominer.feature_select(wells, **kwargs))


def test_feature_select_errors(wells):
    for module in (compat, pycytominer):
        with pytest.raises(ValueError, match="not supported"):
            module.feature_select(wells, operation="nope")
        with pytest.raises(ValueError, match="not supported"):
            module.feature_select(wells, operation=["variance_threshold", "nope"])
        with pytest.raises(ValueError, match="noise_removal"):
            module.feature_select(wells, operation="noise_removal")
        with pytest.raises(ValueError):
            module.feature_select(wells, operation="variance_threshold", min_variance=1e9)
        returned = module.feature_select(wells, operation=3)
        assert isinstance(returned, ValueError)


# ------------------------------------------------------------------ consensus


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"operation": "mean"},
        {"operation": "Median"},
        {"operation": "modz"},
        {
            "operation": "modz",
            "modz_args": {"method": "pearson", "min_weight": 0.2, "precision": 2},
        },
        {"operation": "modz", "replicate_columns": ["Metadata_broad_sample"]},
        {
            "operation": "median",
            "replicate_columns": ["Metadata_broad_sample", "Metadata_control_type"],
        },
    ],
    ids=str,
)
def test_consensus_matches(wells_nan, kwargs):
    assert_same(compat.consensus(wells_nan, **kwargs), pycytominer.consensus(wells_nan, **kwargs))


def test_consensus_errors(wells):
    for module in (compat, pycytominer):
        with pytest.raises(ValueError, match="not supported"):
            module.consensus(wells, operation="max")
        with pytest.raises(ValueError):
            module.consensus(wells, operation="MODZ")


# ------------------------------------------------------------------ annotate


@pytest.fixture
def platemap(wells) -> pd.DataFrame:
    names = wells["Metadata_Well"].unique()
    return pd.DataFrame(
        {
            "well_position": names[::-1],
            "treatment": [f"t{i % 3}" for i in range(len(names))],
            "dose": np.arange(len(names)) * 0.5,
            "Metadata_Plate": "from_platemap",
        }
    )


def test_annotate_matches(wells, platemap):
    ext = pd.DataFrame({"treatment": ["t0", "t1", "t2"], "moa": ["a", "b", "c"]})
    for kwargs in (
        {},
        {"join_on": ["Metadata_well_position", "Metadata_Well"], "clean_cellprofiler": False},
        {"external_metadata": ext, "external_join_on": ["Metadata_treatment"]},
    ):
        assert_same(
            compat.annotate(wells, platemap, **kwargs),
            pycytominer.annotate(wells, platemap, **kwargs),
        )


def test_annotate_unmatched_and_duplicated_keys(wells, platemap):
    pm = pd.concat([platemap.iloc[:3], platemap.iloc[:2]], ignore_index=True)
    assert_same(compat.annotate(wells, pm), pycytominer.annotate(wells, pm))


def test_annotate_image_metadata_cleaned(wells, platemap):
    df = wells.rename(columns={"Metadata_Well": "Image_Metadata_Well"})
    kwargs = {"join_on": ["Metadata_well_position", "Image_Metadata_Well"]}
    assert_same(
        compat.annotate(df, platemap, **kwargs), pycytominer.annotate(df, platemap, **kwargs)
    )


def test_annotate_errors(wells, platemap):
    for module in (compat, pycytominer):
        with pytest.raises(ValueError, match="together"):
            module.annotate(wells, platemap, external_metadata=platemap)
        with pytest.raises(KeyError):
            module.annotate(wells, platemap, join_on=["Metadata_nope", "Metadata_Well"])


# ------------------------------------------------------------------ files


def test_files_in_and_out(tmp_path: Path, cells, platemap):
    cells_file = tmp_path / "cells.csv.gz"
    cells.to_csv(cells_file, index=False)
    pm_file = tmp_path / "platemap.txt"
    platemap.to_csv(pm_file, sep="\t", index=False)

    # the decorator's default: uncompressed even for a .gz name
    for module, name in ((compat, "ours.csv.gz"), (pycytominer, "theirs.csv.gz")):
        wells = module.aggregate(
            pycytominer.cyto_utils.load_profiles(cells_file), output_file=str(tmp_path / name)
        )
        assert wells == str(tmp_path / name)
    ours_bytes = (tmp_path / "ours.csv.gz").read_bytes()
    assert ours_bytes == (tmp_path / "theirs.csv.gz").read_bytes()
    assert not ours_bytes.startswith(b"\x1f\x8b")

    wells_df = pycytominer.aggregate(cells)
    wells_file = tmp_path / "wells.csv"
    wells_df.to_csv(wells_file, index=False)
    for fmt in (
        {},
        {"compression_options": {"method": "gzip", "mtime": 1}},
        {"float_format": "%.4g"},
    ):
        for module, name in ((compat, "a"), (pycytominer, "b")):
            module.normalize(str(wells_file), output_file=str(tmp_path / f"{name}.csv"), **fmt)
            module.annotate(
                str(wells_file),
                str(pm_file),
                join_on=["Metadata_well_position", "Metadata_Well"],
                output_file=str(tmp_path / f"{name}_ann.csv"),
                **fmt,
            )
            module.feature_select(
                str(wells_file), output_file=str(tmp_path / f"{name}_fs.csv"), **fmt
            )
            module.consensus(str(wells_file), output_file=str(tmp_path / f"{name}_cons.csv"), **fmt)
        for stem in ("", "_ann", "_fs", "_cons"):
            a = (tmp_path / f"a{stem}.csv").read_bytes()
            b = (tmp_path / f"b{stem}.csv").read_bytes()
            if fmt.get("compression_options"):
                a, b = gzip.decompress(a), gzip.decompress(b)
            assert a == b, (stem, fmt)

    for module, name in ((compat, "a.parquet"), (pycytominer, "b.parquet")):
        module.normalize(wells_df, output_file=str(tmp_path / name), output_type="parquet")
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    )
    parquet_in = tmp_path / "wells.parquet"
    wells_df.to_parquet(parquet_in)
    assert_same(compat.normalize(str(parquet_in)), pycytominer.normalize(str(parquet_in)))


def test_output_errors(tmp_path, wells):
    for module in (compat, pycytominer):
        with pytest.raises(ValueError, match="not supported"):
            module.aggregate(wells, output_file=str(tmp_path / "x.csv"), compression_options="zip")
        with pytest.raises(FileNotFoundError):
            module.normalize(str(tmp_path / "missing.csv"))
