"""Image-table features: parity with pycytominer 1.7.1's ``cp_image_features``, and errors.

Each function is compared with pycytominer's on the same image table: small
generated tables (missing values, a missing stratum, integer and float counts)
and the bundled fixtures' image tables (as written, ``Image_``-prefixed, and with
the prefix removed as cytominer-database writes them).
"""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cytoplan.exceptions import ColumnNotFoundError, CytoplanError, ParameterError, SchemaError
from cytoplan.ops.image_features import (
    SITE_COUNT,
    add_image_features,
    aggregate_fields_count,
    aggregate_image_count_features,
    aggregate_image_features,
    extract_image_features,
)

pycytominer = pytest.importorskip("pycytominer")
from pycytominer.cyto_utils import cp_image_features as reference  # noqa: E402
from pycytominer.cyto_utils.features import infer_cp_features  # noqa: E402
from pycytominer.cyto_utils.util import extract_image_features as reference_extract  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "data_fixtures" / "cpg0000-synthetic" / "workspace" / "backend"
FIXTURE = BACKEND / "2024_01_01_Batch1" / "BR00000001" / "BR00000001.sqlite"
STRATA = ["Metadata_Plate", "Metadata_Well"]
IMAGE_COLS = ["TableNumber", "ImageNumber", "Metadata_Site"]
CATEGORIES = [
    ["Count"],
    ["Intensity"],
    ["Count", "Intensity"],
    ["Count", "Intensity", "Granularity"],
]


def _generated(seed: int, *, null_stratum: bool = True) -> pd.DataFrame:
    """An image table as cytominer-database writes it (unprefixed feature names)."""
    rng = np.random.default_rng(seed)
    n = 40
    wells = rng.choice(["A01", "A02", "B01", "B10", "C03"], size=n).astype(object)
    if null_stratum:
        wells[[3, 17]] = None
    sites = rng.choice(["1", "2", "3", None], size=n, p=[0.3, 0.3, 0.3, 0.1])
    intensity = rng.normal(100, 20, size=n)
    intensity[rng.random(n) < 0.15] = np.nan
    nuclei = rng.integers(0, 30, size=n).astype(float)
    nuclei[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame(
        {
            "TableNumber": [f"t{i % 7}" for i in range(n)],
            "ImageNumber": np.arange(1, n + 1),
            "Metadata_Plate": rng.choice(["P2", "P1"], size=n),
            "Metadata_Well": wells,
            "Metadata_Site": sites,
            "Count_Cells": rng.integers(0, 40, size=n),
            "Count_Nuclei": nuclei,
            "Intensity_TotalIntensity_DNA": intensity,
            "Intensity_MeanIntensity_RNA": rng.gamma(2.0, 3.0, size=n),
            "Granularity_1_DNA": rng.normal(size=n),
            "Threshold_OrigThreshold_DNA": rng.random(n),
        }
    )


def _fixture_image(*, unprefixed: bool) -> pd.DataFrame:
    with sqlite3.connect(FIXTURE) as con:
        frame = pd.read_sql("select * from Image", con)
    if unprefixed:
        frame.columns = [c.removeprefix("Image_") for c in frame.columns]
    return frame


def _lazy(frame: pd.DataFrame) -> pl.LazyFrame:
    return pl.from_pandas(frame).lazy()


def _assert_frame(got: pl.DataFrame, expected: pd.DataFrame, *, rtol: float = 0.0) -> None:
    """Same columns in the same order, same rows in the same order, same values."""
    assert got.columns == [str(c) for c in expected.columns]
    assert got.height == len(expected)
    for name in got.columns:
        mine = got[name]
        theirs = expected[name]
        if mine.dtype == pl.String:
            assert mine.to_list() == [None if pd.isna(v) else str(v) for v in theirs], name
            continue
        assert mine.dtype.is_numeric(), name
        values = mine.cast(pl.Float64).fill_null(np.nan).to_numpy()
        if rtol:
            np.testing.assert_allclose(values, theirs.to_numpy(float), rtol=rtol, err_msg=name)
        else:
            np.testing.assert_array_equal(values, theirs.to_numpy(float), err_msg=name)
        if pd.api.types.is_integer_dtype(theirs):
            assert mine.dtype == pl.Int64, name
        elif pd.api.types.is_float_dtype(theirs) and not mine.is_null().any():
            assert mine.dtype == pl.Float64 or theirs.isna().any(), name


def _quiet(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


# ----------------------------------------------------------------------------- fields count


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("strata", [STRATA, ["Metadata_Well"], ["Metadata_Well", "Metadata_Plate"]])
def test_fields_count_matches_pycytominer(seed: int, strata: list[str]) -> None:
    image = _generated(seed)
    expected = reference.aggregate_fields_count(image, strata, "Metadata_Site")
    got = aggregate_fields_count(_lazy(image), strata, "Metadata_Site").collect()
    _assert_frame(got, expected)
    assert got[SITE_COUNT].dtype == pl.Int64


def test_fields_count_on_the_fixture_image_table() -> None:
    image = _fixture_image(unprefixed=False)
    expected = reference.aggregate_fields_count(image, STRATA, "Metadata_Site")
    got = aggregate_fields_count(_lazy(image), STRATA).collect()
    _assert_frame(got, expected)
    assert got[SITE_COUNT].to_list() == [2] * 24


def test_fields_count_treats_nan_as_missing() -> None:
    image = pd.DataFrame({"Metadata_Well": ["A", "A", "B"], "Metadata_Site": [1.0, np.nan, 2.0]})
    expected = reference.aggregate_fields_count(image, ["Metadata_Well"], "Metadata_Site")
    got = aggregate_fields_count(
        pl.from_pandas(image, nan_to_null=False).lazy(), ["Metadata_Well"]
    ).collect()
    _assert_frame(got, expected)


# ----------------------------------------------------------------------------- extraction


@pytest.mark.parametrize("categories", [*CATEGORIES, ["Threshold"]])
def test_extract_matches_pycytominer(categories: list[str]) -> None:
    image = _generated(3)
    expected = reference_extract(categories, image, IMAGE_COLS, STRATA)
    got = extract_image_features(
        _lazy(image), categories, image_cols=IMAGE_COLS, strata=STRATA
    ).collect()
    _assert_frame(got, expected)


@pytest.mark.parametrize("unprefixed", [False, True])
def test_extract_on_the_fixture_image_table(unprefixed: bool) -> None:
    """``Image_``-prefixed names pass pycytominer's check but match no category: kept."""
    image = _fixture_image(unprefixed=unprefixed)
    categories = ["Count", "Intensity", "Granularity"]
    expected = reference_extract(categories, image, IMAGE_COLS, STRATA)
    got = extract_image_features(
        _lazy(image), categories, image_cols=IMAGE_COLS, strata=STRATA
    ).collect()
    _assert_frame(got, expected)
    extracted = [c for c in got.columns if c not in IMAGE_COLS + STRATA]
    if unprefixed:
        assert "Metadata_Count_Cells" in extracted
        assert "Image_Intensity_TotalIntensity_DNA" in extracted
    else:
        assert extracted == []


# ----------------------------------------------------------------------------- counts and features


def _strata_rows(frame: pl.LazyFrame, strata: list[str]) -> pd.DataFrame:
    """The groups of the image table (sorted, missing strata last), as a pandas frame."""
    rows = frame.select(strata).unique().sort(strata, nulls_last=True).collect()
    return rows.to_pandas()


@pytest.mark.parametrize("seed", [0, 4])
@pytest.mark.parametrize("strata", [STRATA, ["Metadata_Well"]])
def test_count_features_match_pycytominer(seed: int, strata: list[str]) -> None:
    image = _generated(seed)
    extracted = reference_extract(["Count"], image, IMAGE_COLS, strata)
    ours = extract_image_features(_lazy(image), ["Count"], image_cols=IMAGE_COLS, strata=strata)
    groups = _strata_rows(ours, strata)
    expected, remove = reference.aggregate_image_count_features(
        groups, extracted, IMAGE_COLS, strata
    )
    got = aggregate_image_count_features(ours, strata).collect()
    _assert_frame(got, expected)
    assert got["Metadata_Count_Cells"].dtype == pl.Int64
    assert got["Metadata_Count_Nuclei"].dtype == pl.Float64
    assert not got["Metadata_Count_Nuclei"].is_null().any()  # NaN summed as 0
    assert sorted(remove) == sorted({*IMAGE_COLS, "Metadata_Count_Cells", "Metadata_Count_Nuclei"})


def test_counts_of_a_group_without_values_are_zero() -> None:
    frame = pd.DataFrame({"Metadata_Well": ["A", "A", "B"], "Metadata_Count_Cells": [np.nan] * 3})
    expected, _ = reference.aggregate_image_count_features(
        pd.DataFrame({"Metadata_Well": ["A", "B"]}), frame, [], ["Metadata_Well"]
    )
    got = aggregate_image_count_features(
        pl.from_pandas(frame, nan_to_null=False).lazy(), "Metadata_Well"
    ).collect()
    _assert_frame(got, expected)
    assert got["Metadata_Count_Cells"].to_list() == [0.0, 0.0]


@pytest.mark.parametrize("method", ["median", "mean", "MEAN"])
@pytest.mark.parametrize("categories", CATEGORIES)
@pytest.mark.parametrize("seed", [0, 5])
def test_image_features_match_pycytominer(seed: int, categories: list[str], method: str) -> None:
    image = _generated(seed)
    extracted = reference_extract(categories, image, IMAGE_COLS, STRATA)
    ours = extract_image_features(_lazy(image), categories, image_cols=IMAGE_COLS, strata=STRATA)
    groups = _strata_rows(ours, STRATA)
    expected = _quiet(
        reference.aggregate_image_features,
        groups,
        extracted,
        categories,
        IMAGE_COLS,
        STRATA,
        method.lower(),
    )
    got = aggregate_image_features(
        ours, categories, strata=STRATA, image_cols=IMAGE_COLS, method=method
    ).collect()
    # medians and sums exact; pandas' mean sums with Kahan compensation (spec §8)
    _assert_frame(got, expected, rtol=1e-12 if method.lower() == "mean" else 0.0)


@pytest.mark.parametrize("unprefixed", [False, True])
@pytest.mark.parametrize("method", ["median", "mean"])
def test_image_features_on_the_fixture(unprefixed: bool, method: str) -> None:
    image = _fixture_image(unprefixed=unprefixed)
    categories = ["Count", "Intensity", "Granularity", "ImageQuality"]
    extracted = reference_extract(categories, image, IMAGE_COLS, STRATA)
    ours = extract_image_features(_lazy(image), categories, image_cols=IMAGE_COLS, strata=STRATA)
    counts = reference.aggregate_fields_count(image, STRATA, "Metadata_Site")
    expected = _quiet(
        reference.aggregate_image_features,
        counts,
        extracted,
        categories,
        IMAGE_COLS,
        STRATA,
        method,
    )
    got = aggregate_fields_count(_lazy(image), STRATA).join(
        aggregate_image_features(ours, categories, strata=STRATA, method=method),  # type: ignore[arg-type]
        on=STRATA,
        how="left",
        maintain_order="left",
    )
    _assert_frame(got.collect(), expected, rtol=1e-12 if method == "mean" else 0.0)


# ----------------------------------------------------------------------------- add to profiles


def _reference_added(
    profiles: pd.DataFrame,
    image: pd.DataFrame,
    strata: list[str],
    categories: list[str] | None,
    method: str,
    fields_of_view: str | list[int] = "all",
) -> pd.DataFrame:
    """``SingleCells.aggregate_compartment``'s image step, with pycytominer's functions."""
    features_df = None
    if categories is not None:
        features_df = reference_extract(categories, image, IMAGE_COLS, strata)
    image_df = image[sorted(set(IMAGE_COLS) | set(strata))]
    if fields_of_view != "all":
        keep = [str(v) for v in fields_of_view]
        image_df = image_df[image_df["Metadata_Site"].isin(keep)]
        if features_df is not None:
            features_df = features_df[features_df["Metadata_Site"].isin(keep)]
    added = reference.aggregate_fields_count(image_df, strata, "Metadata_Site")
    if features_df is not None and categories is not None:
        added = _quiet(
            reference.aggregate_image_features,
            added,
            features_df,
            categories,
            IMAGE_COLS,
            strata,
            method,
        )
    merged = added.merge(profiles, on=strata, how="right")
    columns = infer_cp_features(merged, metadata=True) + infer_cp_features(
        merged, image_features=True
    )
    return merged.reindex(columns=columns)


def _profiles(image: pd.DataFrame, strata: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    groups = image[strata].dropna().drop_duplicates().sort_values(strata)
    groups = pd.concat([groups, pd.DataFrame({k: ["Z99"] for k in strata})], ignore_index=True)
    return groups.assign(
        Metadata_Object_Count=rng.integers(1, 9, size=len(groups)),
        Cells_AreaShape_Area=rng.normal(size=len(groups)),
        Nuclei_Intensity_X=rng.normal(size=len(groups)),
    )


@pytest.mark.parametrize("categories", [None, ["Count"], ["Intensity", "Count", "Granularity"]])
@pytest.mark.parametrize("fields_of_view", ["all", [1, 3]])
def test_add_image_features_matches_pycytominer(
    categories: list[str] | None, fields_of_view: str | list[int]
) -> None:
    image = _generated(6, null_stratum=False)
    profiles = _profiles(image, STRATA)
    expected = _reference_added(profiles, image, STRATA, categories, "median", fields_of_view)
    got = add_image_features(
        _lazy(profiles),
        _lazy(image),
        strata=STRATA,
        image_feature_categories=categories,
        fields_of_view=fields_of_view,  # type: ignore[arg-type]
    ).collect()
    _assert_frame(got, expected)
    assert got[SITE_COUNT][-1] is None  # the profile without image rows


def test_add_image_features_keeps_profiles_unchanged_when_sites_are_strata() -> None:
    image = _generated(7, null_stratum=False)
    profiles = _lazy(_profiles(image, ["Metadata_Well", "Metadata_Site"]))
    out = add_image_features(
        profiles,
        _lazy(image),
        strata=["Metadata_Well", "Metadata_Site"],
        image_feature_categories=["Count"],
    )
    assert out.collect().equals(profiles.collect())


def test_add_image_features_joins_keys_of_other_types_as_text() -> None:
    image = pl.LazyFrame(
        {
            "ImageNumber": [1, 2],
            "TableNumber": ["a", "b"],
            "Metadata_Well": [1, 1],
            "Metadata_Site": ["1", "2"],
        }
    )
    profiles = pl.LazyFrame({"Metadata_Well": ["1"], "Cells_X": [0.5]})
    out = add_image_features(profiles, image, strata=["Metadata_Well"]).collect()
    assert out.rows() == [("1", 2, 0.5)]


# ----------------------------------------------------------------------------- errors


def test_errors() -> None:
    image = _lazy(_generated(8))
    with pytest.raises(ParameterError, match="method must be one of"):
        aggregate_image_features(image, ["Count"], method="mode")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="strata must be a non-empty"):
        aggregate_fields_count(image, [])
    with pytest.raises(ParameterError, match="fields_of_view_feature"):
        aggregate_fields_count(image, ["Metadata_Well", "Metadata_Site"])
    with pytest.raises(ParameterError, match="image_feature_categories"):
        extract_image_features(image, [], strata=STRATA)
    with pytest.raises(ParameterError, match="repeated"):
        extract_image_features(image, ["Count", "Count"], strata=STRATA)
    with pytest.raises(ParameterError, match="fields_of_view"):
        add_image_features(image, image, fields_of_view="some")  # type: ignore[arg-type]
    with pytest.raises(ColumnNotFoundError, match="Metadata_Row"):
        aggregate_fields_count(image, ["Metadata_Row"])
    with pytest.raises(ColumnNotFoundError, match="Texture"):
        extract_image_features(image, ["Count", "Texture"], strata=STRATA)
    with pytest.raises(ColumnNotFoundError, match="Cou"):  # a whole category, not a prefix
        extract_image_features(image, ["Cou"], strata=STRATA)
    with pytest.raises(ColumnNotFoundError, match="Metadata_Field"):
        aggregate_fields_count(image, STRATA, "Metadata_Field")
    with pytest.raises(ColumnNotFoundError, match="Metadata_Row"):
        add_image_features(image, image, strata=["Metadata_Row"])
    with pytest.raises(CytoplanError, match="fields of view"):
        add_image_features(image, image, fields_of_view=[9])


def test_non_numeric_features_raise() -> None:
    image = _lazy(_fixture_image(unprefixed=True))
    extracted = extract_image_features(image, ["FileName"], strata=STRATA)
    with pytest.raises(SchemaError, match="not numeric"):
        aggregate_image_features(extracted, ["FileName"], strata=STRATA)


def test_profile_column_clash_raises() -> None:
    image = _generated(9, null_stratum=False)
    profiles = _lazy(_profiles(image, STRATA)).with_columns(pl.lit(1).alias(SITE_COUNT))
    with pytest.raises(SchemaError, match="already have"):
        add_image_features(profiles, _lazy(image), strata=STRATA)
