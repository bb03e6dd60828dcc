"""aggregate: parity with pycytominer 1.7.1 for every option, and error cases."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cytoplan.exceptions import ColumnNotFoundError, CytoplanError, ParameterError, SchemaError
from cytoplan.ops.aggregate import OBJECT_COUNT, aggregate
from cytoplan.testing.profiles import make_profiles

pycytominer = pytest.importorskip("pycytominer")

STRATA = ["Metadata_Plate", "Metadata_Well"]


@pytest.fixture(scope="module")
def cells() -> pl.DataFrame:
    df = make_profiles(plates=2, wells=12, cells_per_well=9, features=15, seed=7)
    rng = np.random.default_rng(7)
    object_number = pl.Series("Metadata_ObjectNumber", np.tile(np.arange(1, 10), 24))
    site = pl.Series("Metadata_Site", np.tile(np.repeat(["1", "2", "3"], 3), 24))
    image = pl.Series("Image_Intensity_MeanIntensity_DNA", rng.normal(5, 1, size=df.height))
    return df.with_columns(
        object_number.cast(pl.String).alias("Metadata_ObjectNumber"),
        site,
        image,
        pl.Series("ImageNumber", np.repeat(np.arange(df.height // 3), 3)),
        pl.Series("Image_Metadata_Plate", ["x"] * df.height),
    )


def _features(df: pl.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith(("Cells_", "Cytoplasm_", "Nuclei_"))]


def _reference(df: pl.DataFrame, **kwargs: object) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pycytominer.aggregate(df.to_pandas(), **kwargs)
    assert isinstance(out, pd.DataFrame)
    return out


def _assert_matches(
    got: pl.DataFrame, expected: pd.DataFrame, *, rtol: float = 0.0, skip: tuple[str, ...] = ()
) -> None:
    assert got.columns == list(expected.columns)
    assert got.height == len(expected)
    for name in got.columns:
        if name in skip:
            continue
        left, right = got[name], expected[name]
        if left.dtype == pl.String:
            assert left.to_list() == [None if pd.isna(v) else v for v in right], name
            continue
        a = left.to_numpy().astype(float)
        b = right.to_numpy().astype(float)
        if rtol == 0.0:
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=0.0, err_msg=name)


def test_median_is_exact(cells: pl.DataFrame) -> None:
    got = aggregate(cells.lazy()).collect()
    _assert_matches(got, _reference(cells))
    assert got["Metadata_Well"].to_list()[:3] == ["A01", "A02", "A03"]
    assert all(got[c].dtype == pl.Float64 for c in _features(cells))


def test_mean_within_1e12(cells: pl.DataFrame) -> None:
    result = aggregate(cells.lazy(), method="mean")
    assert isinstance(result, pl.LazyFrame)
    got = result.collect(engine="streaming")
    _assert_matches(got, _reference(cells, operation="mean"), rtol=1e-12)


@pytest.mark.parametrize("method", ["median", "mean"])
def test_object_count(cells: pl.DataFrame, method: str) -> None:
    df = cells.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0)
        .then(None)
        .otherwise(pl.col("Metadata_ObjectNumber"))
        .alias("Metadata_ObjectNumber")
    )
    got = aggregate(df.lazy(), method=method, object_count=True).collect()  # type: ignore[arg-type]
    expected = _reference(df, operation=method, compute_object_count=True)
    _assert_matches(got, expected, rtol=1e-12 if method == "mean" else 0.0)
    assert got[OBJECT_COUNT].dtype == pl.Int64
    assert got.columns[2] == OBJECT_COUNT


@pytest.mark.parametrize("method", ["median", "mean"])
def test_null_strata_form_their_own_group_sorted_last(cells: pl.DataFrame, method: str) -> None:
    df = cells.with_columns(
        pl.when(pl.col("Metadata_Well").is_in(["A02", "A05"]))
        .then(None)
        .otherwise(pl.col("Metadata_Well"))
        .alias("Metadata_Well")
    )
    got = aggregate(df.lazy(), method=method, object_count=True).collect()  # type: ignore[arg-type]
    expected = _reference(df, operation=method, compute_object_count=True)
    # pycytominer gives the null-stratum groups a NaN count (its count group-by drops
    # null keys); cytoplan counts them (docs/parity/aggregate.md)
    _assert_matches(got, expected, rtol=1e-12 if method == "mean" else 0.0, skip=(OBJECT_COUNT,))
    null_rows = got.filter(pl.col("Metadata_Well").is_null())
    assert null_rows.height == 2  # one per plate, after the plate's other wells
    assert null_rows[OBJECT_COUNT].to_list() == [18, 18]
    assert got.filter(pl.col("Metadata_Plate") == "BR00000001")["Metadata_Well"][-1] is None
    counted = got.filter(pl.col("Metadata_Well").is_not_null())[OBJECT_COUNT].to_numpy()
    np.testing.assert_array_equal(counted, expected[OBJECT_COUNT].dropna().to_numpy())


def test_subset_keeps_matching_cells(cells: pl.DataFrame) -> None:
    subset = cells.select(*STRATA, "Metadata_ObjectNumber").filter(
        pl.col("Metadata_ObjectNumber").is_in(["1", "4", "5", "9"])
    )
    got = aggregate(cells.lazy(), subset=subset).collect()
    expected = _reference(cells, subset_data_df=subset.to_pandas())
    _assert_matches(got, expected)
    # dtypes that differ are compared as text
    numeric_subset = subset.with_columns(pl.col("Metadata_ObjectNumber").cast(pl.Int64))
    assert aggregate(cells.lazy(), subset=numeric_subset.lazy()).collect().equals(got)


def test_features_list_in_given_order_and_strata_string(cells: pl.DataFrame) -> None:
    features = _features(cells)[::-1][:5]
    got = aggregate(cells.lazy(), strata="Metadata_Well", features=features).collect()
    expected = _reference(cells, strata=["Metadata_Well"], features=features)
    _assert_matches(got, expected)
    assert got.columns == ["Metadata_Well", *features]


@pytest.mark.parametrize("method", ["median", "mean"])
def test_image_features_and_infer(cells: pl.DataFrame, method: str) -> None:
    expected = _reference(cells, operation=method, image_features=True)
    assert "ImageNumber" not in expected.columns
    rtol = 1e-12 if method == "mean" else 0.0
    got = aggregate(
        cells.lazy(),
        method=method,  # type: ignore[arg-type]
        features="infer",
        image_features=True,
    ).collect()
    _assert_matches(got, expected, rtol=rtol)
    # the default selector orders columns by schema too, and never picks ImageNumber
    by_selector = aggregate(cells.lazy(), method=method, image_features=True)  # type: ignore[arg-type]
    _assert_matches(by_selector.collect(), expected, rtol=rtol)


def test_explicit_image_number_is_dropped(cells: pl.DataFrame) -> None:
    features = ["ImageNumber", _features(cells)[0]]
    got = aggregate(cells.lazy(), features=features).collect()
    assert got.columns == [*STRATA, features[1]]
    _assert_matches(got, _reference(cells, features=features))


def test_integer_features_become_float64() -> None:
    df = pl.DataFrame(
        {"Metadata_Well": ["A", "A", "B", "B"], "Cells_Count": [1, 2, 3, 6]},
        schema_overrides={"Cells_Count": pl.Int32},
    )
    got = aggregate(df.lazy(), strata=["Metadata_Well"]).collect()
    assert got["Cells_Count"].dtype == pl.Float64
    assert got["Cells_Count"].to_list() == [1.5, 4.5]


def test_median_exact_when_memory_limit_forces_one_column_blocks(cells: pl.DataFrame) -> None:
    tiny = aggregate(cells.lazy(), memory_limit=1).collect()
    _assert_matches(tiny, _reference(cells))
    assert tiny.equals(aggregate(cells.lazy(), memory_limit="4GiB").collect())


def test_fields_of_view(cells: pl.DataFrame) -> None:
    got = aggregate(cells.lazy(), fields_of_view=[1, 3], object_count=True).collect()
    kept = cells.filter(pl.col("Metadata_Site").is_in(["1", "3"]))
    _assert_matches(got, _reference(kept, compute_object_count=True))
    assert got[OBJECT_COUNT].unique().to_list() == [6]
    with pytest.raises(CytoplanError, match=r"fields of view \['7'\]"):
        aggregate(cells.lazy(), fields_of_view=[1, 7])
    # a numeric site column matches the sites as numbers, as pycytominer's query does
    for dtype in (pl.Float64, pl.Int64):
        numeric = cells.with_columns(pl.col("Metadata_Site").cast(dtype))
        same = aggregate(numeric.lazy(), fields_of_view=[1, "3"], object_count=True).collect()
        assert same.equals(got)


def test_empty_input_gives_empty_output(cells: pl.DataFrame) -> None:
    empty = cells.head(0).lazy()
    for method in ("median", "mean"):
        got = aggregate(empty, method=method, object_count=True).collect()  # type: ignore[arg-type]
        assert got.height == 0
        assert got.columns == [*STRATA, OBJECT_COUNT, *_features(cells)]


def test_errors(cells: pl.DataFrame) -> None:
    lf = cells.lazy()
    with pytest.raises(ParameterError, match="method must be one of 'median', 'mean', got 'max'"):
        aggregate(lf, method="max")  # type: ignore[arg-type]
    with pytest.raises(ColumnNotFoundError, match="Metadata_Batch"):
        aggregate(lf, strata=["Metadata_Batch"])
    with pytest.raises(ColumnNotFoundError, match="Metadata_Nope"):
        aggregate(lf, object_count=True, object_feature="Metadata_Nope")
    with pytest.raises(SchemaError, match="not numeric"):
        aggregate(lf, features=["Metadata_control_type"])
    with pytest.raises(ColumnNotFoundError, match="Cells_Missing"):
        aggregate(lf, features=["Cells_Missing"])
    with pytest.raises(ColumnNotFoundError, match="Metadata_Other"):
        aggregate(lf, subset=pl.DataFrame({"Metadata_Other": ["1"]}))
    with pytest.raises(ParameterError, match=r"strata must be a non-empty list .*got \[\]"):
        aggregate(lf, strata=[])
    text = pl.LazyFrame({"Metadata_Well": ["A"], "Cells_Text": ["1.5"]})
    with pytest.raises(SchemaError, match="Cells_Text"):
        aggregate(text, strata="Metadata_Well", features="infer")


def test_case_insensitive_method(cells: pl.DataFrame) -> None:
    got = aggregate(cells.lazy(), method="Median").collect()  # type: ignore[arg-type]
    assert got.equals(aggregate(cells.lazy()).collect())


@pytest.mark.parametrize("method", ["median", "mean"])
def test_nan_is_missing_and_float32_is_widened(method: str) -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=40)
    values[::7] = np.nan
    df = pl.DataFrame(
        {
            "Metadata_Well": np.repeat(["A01", "A02", "B01", "B02"], 10),
            "Cells_x": values,
            "Cells_y": values.astype(np.float32),
            "Cells_z": np.arange(40),
        }
    )
    got = aggregate(df.lazy(), strata="Metadata_Well", method=method).collect()  # type: ignore[arg-type]
    expected = _reference(df, strata=["Metadata_Well"], operation=method)
    _assert_matches(got, expected, rtol=1e-12 if method == "mean" else 0.0)
    assert got.schema["Cells_y"] == pl.Float64


def test_subset_keys_of_another_number_type_match_by_value() -> None:
    # a float subset key against integer object numbers used to select no cell at all
    cells = pd.DataFrame(
        {
            "Metadata_Well": ["A", "A", "B", "B"],
            "Metadata_ObjectNumber": [1, 2, 1, 2],
            "Cells_x": [1.0, 2.0, 3.0, 4.0],
        }
    )
    for keys in ([1.0], np.array([1], dtype="int32")):
        subset = pd.DataFrame({"Metadata_ObjectNumber": keys})
        expected = pycytominer.aggregate(
            cells, strata=["Metadata_Well"], features=["Cells_x"], subset_data_df=subset
        )
        got = aggregate(
            pl.from_pandas(cells).lazy(),
            strata=["Metadata_Well"],
            features=["Cells_x"],
            subset=pl.from_pandas(subset),
        ).collect()
        assert got["Cells_x"].to_list() == expected["Cells_x"].tolist() == [1.0, 3.0]


def test_object_count_skips_nan_object_numbers_as_pandas_counts() -> None:
    cells = pd.DataFrame(
        {
            "Metadata_Well": ["A", "A", "A", "B"],
            "Metadata_ObjectNumber": [1.0, np.nan, 3.0, 1.0],
            "Cells_x": [1.0, 2.0, 3.0, 4.0],
        }
    )
    expected = pycytominer.aggregate(
        cells, strata=["Metadata_Well"], features=["Cells_x"], compute_object_count=True
    )
    # NaN kept as NaN, as a Parquet file written by pandas gives it
    frame = pl.from_pandas(cells, nan_to_null=False).lazy()
    got = aggregate(frame, strata=["Metadata_Well"], features=["Cells_x"], object_count=True)
    counts = got.collect()[OBJECT_COUNT].to_list()
    assert counts == expected[OBJECT_COUNT].tolist() == [2, 1]
