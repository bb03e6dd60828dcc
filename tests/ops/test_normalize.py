"""normalize: parity with pycytominer 1.7.1, groups, saved statistics, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from cytoplan.exceptions import (
    ColumnNotFoundError,
    NotFittedError,
    ParameterError,
    SchemaError,
    SourceError,
    StatisticsError,
)
from cytoplan.ops.normalize import (
    InverseNormal,
    MADRobustize,
    Normalizer,
    Robustize,
    Spherize,
    Standardize,
    make_normalizer,
    normalize,
)
from cytoplan.testing.profiles import make_profiles

pycytominer = pytest.importorskip("pycytominer")

NEGCON = "Metadata_control_type == 'negcon'"
META = ["Metadata_Plate", "Metadata_Well", "Metadata_control_type", "Metadata_broad_sample"]


def features_of(df: pl.DataFrame) -> list[str]:
    return [c for c in df.columns if not c.startswith("Metadata_")]


def reference_normalize(pdf: pd.DataFrame, features: list[str], **kwargs: object) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pycytominer.normalize(profiles=pdf, features=features, meta_features=META, **kwargs)


def as_array(df: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """Float matrix with nulls as NaN (pycytominer's representation)."""
    return df.select(pl.col(columns).cast(pl.Float64)).to_numpy()


def assert_same(
    ours: pl.DataFrame, theirs: pd.DataFrame, features: list[str], *, rtol: float = 0.0
) -> None:
    assert ours.columns == list(theirs.columns)
    for name in META:
        assert ours[name].to_list() == theirs[name].tolist()
    a = as_array(ours, features)
    b = theirs[features].to_numpy(dtype=np.float64)
    if rtol == 0.0:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


@pytest.fixture(scope="module")
def wells() -> pl.DataFrame:
    return make_profiles(plates=2, wells=48, features=18, seed=3)


@pytest.fixture(scope="module")
def cells() -> pl.DataFrame:
    return make_profiles(plates=1, wells=24, cells_per_well=40, features=12, seed=5)


TOLERANCE = {"standardize": 1e-12, "robustize": 0.0, "mad_robustize": 0.0, "inverse_normal": 0.0}


@pytest.mark.parametrize("method", sorted(TOLERANCE))
@pytest.mark.parametrize("samples", ["all", NEGCON])
@pytest.mark.parametrize("data", ["wells", "cells"])
def test_parity_with_pycytominer(
    method: str, samples: str, data: str, request: pytest.FixtureRequest
) -> None:
    df: pl.DataFrame = request.getfixturevalue(data)
    features = features_of(df)
    ours = normalize(df.lazy(), method=method, reference=samples).collect()
    theirs = reference_normalize(df.to_pandas(), features, samples=samples, method=method)
    assert_same(ours, theirs, features, rtol=TOLERANCE[method])
    assert all(ours.schema[name] == pl.Float64 for name in features)


@pytest.mark.parametrize("epsilon", [0.0, 1e-18, 1e-3, 0.5])
def test_mad_robustize_epsilon(wells: pl.DataFrame, epsilon: float) -> None:
    features = features_of(wells)
    ours = normalize(
        wells.lazy(), method="mad_robustize", reference=NEGCON, mad_robustize_epsilon=epsilon
    ).collect()
    theirs = reference_normalize(
        wells.to_pandas(),
        features,
        samples=NEGCON,
        method="mad_robustize",
        mad_robustize_epsilon=epsilon,
    )
    assert_same(ours, theirs, features)


@pytest.mark.parametrize("n_quantiles", [1, 5, 30, 1000])
def test_inverse_normal_n_quantiles(wells: pl.DataFrame, n_quantiles: int) -> None:
    features = features_of(wells)
    ours = normalize(
        wells.lazy(), method="inverse_normal", inverse_normal_n_quantiles=n_quantiles
    ).collect()
    theirs = reference_normalize(
        wells.to_pandas(),
        features,
        method="inverse_normal",
        inverse_normal_n_quantiles=n_quantiles,
    )
    assert_same(ours, theirs, features)


@pytest.mark.parametrize("method", sorted(TOLERANCE))
def test_by_plate_equals_pycytominer_per_plate(wells: pl.DataFrame, method: str) -> None:
    features = features_of(wells)
    ours = normalize(wells.lazy(), method=method, reference=NEGCON, by="Metadata_Plate").collect()
    pieces = [
        reference_normalize(plate.to_pandas(), features, samples=NEGCON, method=method)
        for plate in wells.partition_by("Metadata_Plate", maintain_order=True)
    ]
    assert_same(ours, pd.concat(pieces, ignore_index=True), features, rtol=TOLERANCE[method])


@pytest.mark.parametrize("method", ["robustize", "mad_robustize"])
def test_one_plate_by_plate_divides_exactly(method: str) -> None:
    """One fitted group with keys divides by a column derived from the key check. Polars
    treats a broadcast literal as a scalar and divides by multiplying with its
    reciprocal (one bit off for some values), so that column must be materialized."""
    df = make_profiles(plates=1, wells=96, features=40, seed=9)
    features = features_of(df)
    ours = normalize(df.lazy(), method=method, by="Metadata_Plate").collect()
    theirs = reference_normalize(df.to_pandas(), features, method=method)
    assert_same(ours, theirs, features)


def test_by_plate_keeps_row_order_of_interleaved_plates(wells: pl.DataFrame) -> None:
    shuffled = wells.sample(fraction=1.0, shuffle=True, seed=11)
    ours = normalize(shuffled.lazy(), method="mad_robustize", by="Metadata_Plate").collect()
    assert ours["Metadata_Well"].to_list() == shuffled["Metadata_Well"].to_list()
    expected = normalize(wells.lazy(), method="mad_robustize", by="Metadata_Plate").collect()
    key = ["Metadata_Plate", "Metadata_Well"]
    assert ours.sort(key).equals(expected.sort(key))


def test_by_two_keys(wells: pl.DataFrame) -> None:
    df = wells.with_columns(Metadata_Half=(pl.int_range(pl.len()) % 2).cast(pl.String))
    keys = ["Metadata_Plate", "Metadata_Half"]
    ours = normalize(df.lazy(), method="robustize", by=keys).collect()
    features = features_of(wells)
    for (plate, half), part in df.partition_by(keys, as_dict=True).items():
        alone = normalize(part.lazy(), method="robustize").collect()
        mine = ours.filter((pl.col("Metadata_Plate") == plate) & (pl.col("Metadata_Half") == half))
        np.testing.assert_array_equal(as_array(mine, features), as_array(alone, features))


def test_null_group_key_is_a_group() -> None:
    df = pl.DataFrame({"Metadata_Plate": ["a", "a", None, None], "Cells_x": [1.0, 3.0, 10.0, 30.0]})
    out = normalize(df.lazy(), method="standardize", by="Metadata_Plate").collect()
    assert out["Cells_x"].to_list() == [-1.0, 1.0, -1.0, 1.0]


def test_keeps_every_column_in_input_order() -> None:
    df = pl.DataFrame(
        {
            "ImageNumber": [1, 2, 3, 4],
            "Cells_a": [1, 2, 3, 4],
            "Metadata_Well": ["A01", "A02", "A03", "A04"],
            "Location_Center_X": [0.5, 0.1, 0.2, 0.3],
            "Nuclei_b": [2.0, 4.0, None, float("nan")],
            "Image_Metadata_Site": ["1", "1", "2", "2"],
        }
    )
    out = normalize(df.lazy(), method="mad_robustize").collect()
    assert out.columns == df.columns
    assert out.schema["Cells_a"] == pl.Float64 and out.schema["ImageNumber"] == pl.Int64
    assert out["Location_Center_X"].equals(df["Location_Center_X"])
    nuclei = out["Nuclei_b"]
    assert nuclei.is_null().to_list() == [False, False, True, False]
    assert np.isnan(nuclei[3])  # NaN stays NaN, null stays null


def test_features_list_selector_and_infer(wells: pl.DataFrame) -> None:
    import polars.selectors as cs

    features = features_of(wells)
    listed = normalize(wells.lazy(), features=features[:3]).collect()
    assert listed.select(features[3:]).equals(wells.select(features[3:]))
    selected = normalize(wells.lazy(), features=cs.starts_with("Cells_")).collect()
    assert selected.select(cs.starts_with("Nuclei_")).equals(
        wells.select(cs.starts_with("Nuclei_"))
    )
    inferred = normalize(wells.lazy(), features="infer").collect()
    assert inferred.equals(normalize(wells.lazy()).collect())


def test_transform_is_lazy_and_streams(wells: pl.DataFrame, tmp_path: Path) -> None:
    fitted = MADRobustize().fit(wells.lazy(), by="Metadata_Plate")
    out = fitted.transform(wells.lazy())
    assert isinstance(out, pl.LazyFrame)
    streamed = out.collect(engine="streaming")
    assert streamed.equals(out.collect())
    path = tmp_path / "out.parquet"
    out.sink_parquet(path, row_group_size=8192)
    assert pl.read_parquet(path).equals(streamed)


def test_stats_table_is_tidy(wells: pl.DataFrame) -> None:
    fitted = Standardize().fit(wells.lazy(), reference=NEGCON, by="Metadata_Plate")
    features = features_of(wells)
    stats = fitted.stats_
    assert stats.columns[:3] == ["Metadata_Plate", "feature", "n_samples"]
    assert stats.height == 2 * len(features)
    assert stats["feature"].to_list() == features * 2
    assert stats["n_samples"].unique().to_list() == [12]
    assert fitted.groups_["Metadata_Plate"].to_list() == ["BR00000001", "BR00000002"]
    negcon = wells.filter(pl.col("Metadata_control_type") == "negcon")
    first = negcon.filter(pl.col("Metadata_Plate") == "BR00000001")[features[0]]
    assert stats.row(0, named=True)["mean"] == pytest.approx(first.mean(), rel=1e-14)


@pytest.mark.parametrize(
    "normalizer",
    [
        Standardize(),
        Robustize(),
        MADRobustize(epsilon=1e-9),
        InverseNormal(n_quantiles=7),
        Spherize(method="PCA-cor"),
    ],
    ids=lambda n: n.name,
)
def test_save_load_round_trip(normalizer: Normalizer, tmp_path: Path) -> None:
    df = make_profiles(plates=2, wells=40, features=6, seed=8, nulls=False)
    features = [c for c in features_of(df) if int(c.rsplit("_", 1)[1]) % 6 != 3]  # not constant
    normalizer.features = features
    normalizer.fit(df.lazy(), reference=NEGCON, by="Metadata_Plate")
    path = normalizer.save(tmp_path / "stats.parquet")
    loaded = Normalizer.load(path)
    assert type(loaded) is type(normalizer)
    assert loaded.get_params() == normalizer.get_params()
    assert loaded.feature_names_in_ == features and loaded.by_ == ["Metadata_Plate"]
    assert loaded.reference_ == NEGCON
    assert loaded.stats_.equals(normalizer.stats_)
    other = make_profiles(plates=2, wells=40, features=6, seed=9, nulls=False)
    assert (
        loaded.transform(other.lazy())
        .collect()
        .equals(normalizer.transform(other.lazy()).collect())
    )
    assert type(normalizer).load(path).stats_.equals(normalizer.stats_)
    if isinstance(normalizer, Spherize):  # fitted attributes beside the statistics
        assert loaded.rank_ == normalizer.rank_ == [5, 5]  # type: ignore[attr-defined]


def test_load_checks_the_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.parquet"
    pl.DataFrame({"x": [1]}).write_parquet(plain)
    with pytest.raises(SourceError, match="no cytoplan normalizer metadata"):
        Normalizer.load(plain)
    with pytest.raises(SourceError, match="cannot read"):
        Normalizer.load(tmp_path / "missing.parquet")
    path = Standardize().fit(pl.LazyFrame({"Cells_x": [1.0, 2.0]})).save(tmp_path / "s.parquet")
    with pytest.raises(ParameterError, match="not Robustize"):
        Robustize.load(path)
    fitted = Standardize().fit(pl.LazyFrame({"Cells_x": [1.0, 2.0]}))
    with pytest.raises(ParameterError, match=r"folder .* does not exist"):
        fitted.save(tmp_path / "missing" / "s.parquet")


def test_fit_on_one_plate_apply_to_another() -> None:
    df = make_profiles(plates=2, wells=24, features=6, seed=1)
    plate1 = df.filter(pl.col("Metadata_Plate") == "BR00000001")
    plate2 = df.filter(pl.col("Metadata_Plate") == "BR00000002")
    fitted = Robustize().fit(plate1.lazy(), reference=NEGCON)
    out = fitted.transform(plate2.lazy()).collect()
    features = features_of(df)
    stats = fitted.stats_
    x = plate2[features[1]].to_numpy()  # NaN where null
    expected = (x - stats["center"][1]) / stats["scale"][1]  # IEEE division, as NumPy
    np.testing.assert_array_equal(out[features[1]].to_numpy(), expected)


def test_transform_refuses_an_unfitted_group() -> None:
    df = make_profiles(plates=2, wells=8, features=3, seed=1)
    fitted = Standardize().fit(
        df.filter(pl.col("Metadata_Plate") == "BR00000001").lazy(), by="Metadata_Plate"
    )
    with pytest.raises(StatisticsError, match="Metadata_Plate='BR00000002'"):
        fitted.transform(df.lazy()).collect()
    for other in (Spherize(method="ZCA"), InverseNormal()):
        other.features = features_of(df)[:2]
        other.fit(df.filter(pl.col("Metadata_Plate") == "BR00000001").lazy(), by="Metadata_Plate")
        with pytest.raises(StatisticsError, match="not fitted on"):
            other.transform(df.lazy()).collect(engine="streaming")


@pytest.mark.parametrize("method", [Standardize, MADRobustize, Spherize, InverseNormal])
def test_an_unfitted_group_is_refused_whatever_columns_are_read(method: type) -> None:
    df = make_profiles(plates=2, wells=8, features=3, seed=1)
    features = features_of(df)
    fitted = method(features=features).fit(
        df.filter(pl.col("Metadata_Plate") == "BR00000001").lazy(), by="Metadata_Plate"
    )
    other = df.filter(pl.col("Metadata_Plate") == "BR00000002").lazy()
    out = fitted.transform(other)
    kept = [name for name in out.collect_schema().names() if name.startswith("Cells_")][:1]
    for query in (out, out.select(kept), out.drop("Metadata_Plate")):
        with pytest.raises(StatisticsError, match="Metadata_Plate='BR00000002'"):
            query.collect()


def test_one_fitted_group_with_a_null_key_and_two_keys() -> None:
    # one fitted group takes the path without a join: null keys match null keys,
    # every key is compared, and the output equals a two-group fit's rows
    df = make_profiles(plates=2, wells=8, features=3, seed=1)
    plate1 = df.filter(pl.col("Metadata_Plate") == "BR00000001")
    unnamed = plate1.with_columns(pl.lit(None, pl.String).alias("Metadata_Plate"))
    fitted = Standardize().fit(unnamed.lazy(), by="Metadata_Plate")
    both = Standardize().fit(
        pl.concat([unnamed, df.filter(pl.col("Metadata_Plate") == "BR00000002")]).lazy(),
        by="Metadata_Plate",
    )
    assert_frame_equal(
        fitted.transform(unnamed.lazy()).collect(), both.transform(unnamed.lazy()).collect()
    )
    keys = ["Metadata_Plate", "Metadata_Well"]
    one_well = plate1.filter(pl.col("Metadata_Well") == plate1["Metadata_Well"][0])
    fitted = Standardize().fit(one_well.lazy(), by=keys)
    assert fitted.transform(one_well.lazy()).collect().height == one_well.height
    other_well = plate1.filter(pl.col("Metadata_Well") != plate1["Metadata_Well"][0])
    with pytest.raises(StatisticsError, match="Metadata_Well="):
        fitted.transform(other_well.lazy()).collect()
    # several fitted groups: each batch's keys are looked up; a third plate is refused
    three = make_profiles(plates=3, wells=8, features=3, seed=2)
    two = three.filter(pl.col("Metadata_Plate") != "BR00000003")
    for method in (Standardize(), MADRobustize(), InverseNormal()):
        method.fit(two.lazy(), by="Metadata_Plate")
        assert method.transform(two.lazy()).collect(engine="streaming").height == two.height
        with pytest.raises(StatisticsError, match="Metadata_Plate='BR00000003'"):
            method.transform(three.lazy()).collect(engine="streaming")


# --------------------------------------------------------------------- errors
def test_reference_without_rows_in_a_plate() -> None:
    df = make_profiles(plates=2, wells=8, features=3, seed=1).with_columns(
        Metadata_control_type=pl.when(pl.col("Metadata_Plate") == "BR00000002")
        .then(pl.lit("trt"))
        .otherwise(pl.col("Metadata_control_type"))
    )
    for method in ("standardize", "mad_robustize", "spherize", "inverse_normal"):
        with pytest.raises(StatisticsError, match=r"Metadata_Plate='BR00000002'"):
            normalize(df.lazy(), method=method, reference=NEGCON, by="Metadata_Plate")
    with pytest.raises(StatisticsError, match="no rows to fit"):
        normalize(df.lazy(), reference="Metadata_control_type == 'nothing'")


def test_unknown_method_and_bad_options(wells: pl.DataFrame) -> None:
    with pytest.raises(ParameterError, match=r"normalize: method must be one of .*got 'zscore'"):
        normalize(wells.lazy(), method="zscore")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="epsilon must be a number"):
        normalize(wells.lazy(), method="mad_robustize", mad_robustize_epsilon=None)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="n_quantiles must be an integer"):
        normalize(wells.lazy(), method="inverse_normal", inverse_normal_n_quantiles=0)
    assert isinstance(make_normalizer("MAD_Robustize"), MADRobustize)


def test_non_numeric_feature_and_missing_columns() -> None:
    df = pl.LazyFrame({"Metadata_Plate": ["a", "b"], "Cells_x": ["1", "2"], "Cells_y": [1.0, 2.0]})
    with pytest.raises(SchemaError, match="Cells_x"):
        normalize(df, features=["Cells_x", "Cells_y"])
    with pytest.raises(ColumnNotFoundError, match="Cells_z"):
        normalize(df, features=["Cells_z"])
    with pytest.raises(ColumnNotFoundError, match="Metadata_Batch"):
        normalize(df, features=["Cells_y"], by="Metadata_Batch")
    with pytest.raises(SchemaError, match="both group keys"):
        normalize(df, features=["Cells_y"], by="Cells_y")


def test_not_fitted() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        Standardize().transform(pl.LazyFrame({"Cells_x": [1.0]}))


def test_constant_features_like_sklearn() -> None:
    df = pl.DataFrame({"Cells_c": [0.1] * 7, "Cells_x": [1.0, 2, 3, 4, 5, 6, 7]})
    pdf = df.to_pandas()
    for method in ("standardize", "robustize", "mad_robustize"):
        ours = normalize(df.lazy(), method=method).collect()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = pycytominer.normalize(
                profiles=pdf.assign(Metadata_x=1), features=["Cells_c", "Cells_x"], method=method
            )
        # scale 1: the constant becomes x - mean, 0 up to the rounding of the mean
        np.testing.assert_allclose(ours["Cells_c"].to_numpy(), 0.0, atol=1e-15)
        np.testing.assert_allclose(
            ours.select("Cells_c", "Cells_x").to_numpy(),
            theirs[["Cells_c", "Cells_x"]].to_numpy(),
            rtol=TOLERANCE[method],
            atol=TOLERANCE[method],
        )


# ---------------------------------------------------------------- determinism
# a 4,096-byte limit is below any row group here: spherize's row stream says so
@pytest.mark.filterwarnings("ignore::cytoplan.exceptions.MemoryLimitWarning")
@pytest.mark.parametrize("method", ["standardize", "mad_robustize", "inverse_normal", "spherize"])
def test_same_statistics_whatever_the_source_batches(tmp_path: Path, method: str) -> None:
    df = make_profiles(plates=2, wells=96, cells_per_well=12, features=8, seed=4, nulls=False)
    features = [c for c in features_of(df) if int(c.rsplit("_", 1)[1]) % 6 != 3]
    fitted, transformed = [], []
    for rows in (7, 1000, None):
        if rows is None:
            lf = df.lazy()
        else:
            path = tmp_path / f"rg{rows}.parquet"
            df.write_parquet(path, row_group_size=rows)
            lf = pl.scan_parquet(path)
        normalizer = make_normalizer(method, features=features, memory_limit=4096)
        fitted.append(normalizer.fit(lf, by="Metadata_Plate").stats_)
        transformed.append(normalizer.transform(lf).collect())
    assert fitted[0].equals(fitted[1]) and fitted[1].equals(fitted[2])
    # and so are the transformed values, bit for bit (spherize's products included)
    assert transformed[0].equals(transformed[1]) and transformed[1].equals(transformed[2])


def test_same_statistics_whatever_the_thread_count(tmp_path: Path) -> None:
    df = make_profiles(plates=2, wells=96, cells_per_well=30, features=12, seed=4)
    source = tmp_path / "cells.parquet"
    df.write_parquet(source, row_group_size=500)
    code = (
        "import sys, polars as pl\n"
        "from cytoplan.ops.normalize import Standardize\n"
        "s = Standardize().fit(pl.scan_parquet(sys.argv[1]), by='Metadata_Plate').stats_\n"
        "s.write_parquet(sys.argv[2])\n"
    )
    outputs = []
    for threads in ("1", "2", "4"):
        out = tmp_path / f"stats{threads}.parquet"
        env = {**os.environ, "POLARS_MAX_THREADS": threads}
        subprocess.run([sys.executable, "-c", code, str(source), str(out)], env=env, check=True)
        outputs.append(pl.read_parquet(out))
    assert outputs[0].equals(outputs[1]) and outputs[1].equals(outputs[2])


def test_standardize_refuses_infinite_values() -> None:
    df = pl.LazyFrame({"Cells_x": [1.0, float("inf"), 2.0], "Cells_y": [1.0, 2.0, 3.0]})
    with pytest.raises(StatisticsError, match="infinite values in the reference rows: 'Cells_x'"):
        normalize(df)
    with pytest.raises(ValueError, match="infinity"):
        pycytominer.normalize(
            profiles=df.collect().to_pandas().assign(Metadata_x=1),
            features=["Cells_x", "Cells_y"],
            method="standardize",
        )


def test_inverse_normal_refuses_infinite_reference_values() -> None:
    df = pl.LazyFrame({"Cells_x": [1.0, 2.0, 3.0, 4.0, float("inf")], "Cells_y": [1.0] * 5})
    with pytest.raises(StatisticsError, match=r"inverse_normal needs finite values.*'Cells_x'"):
        normalize(df, method="inverse_normal")  # a finite 4.0 used to come out NaN
    with pytest.raises(ValueError, match="infinity"):
        pycytominer.normalize(
            profiles=df.collect().to_pandas().assign(Metadata_x=1),
            features=["Cells_x", "Cells_y"],
            method="inverse_normal",
        )


def test_standardize_of_values_whose_variance_overflows_matches_pycytominer() -> None:
    # finite values, but their spread overflows: scikit-learn keeps scale 1
    frame = pd.DataFrame(
        {"Metadata_x": ["A", "B", "C"], "Cells_x": [1e300, -2e300, 3e300], "Cells_y": [1.0, 2, 4]}
    )
    ours = normalize(pl.from_pandas(frame).lazy(), method="standardize").collect().to_pandas()
    theirs = pycytominer.normalize(
        profiles=frame, features=["Cells_x", "Cells_y"], method="standardize"
    )
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-15)


def test_inverse_normal_uses_every_reference_row_above_10k() -> None:
    rng = np.random.default_rng(0)
    x = rng.lognormal(size=25_000)
    df = pl.DataFrame({"Cells_x": x})
    fitted = InverseNormal(n_quantiles=20_000).fit(df.lazy())
    quantiles = np.asarray(fitted.stats_["quantiles"][0])
    references = np.linspace(0, 1, 20_000) * 100
    np.testing.assert_array_equal(quantiles, np.nanpercentile(x, references))
    again = InverseNormal(n_quantiles=20_000).fit(df.lazy())
    out = fitted.transform(df.lazy()).collect()
    assert out.equals(again.transform(df.lazy()).collect())
    # the scores are normal: mean 0, sd 1 (up to the clipped ends)
    assert abs(out["Cells_x"].mean()) < 1e-3 and abs(out["Cells_x"].std() - 1) < 2e-2


def test_robustize_accepts_infinite_values() -> None:
    df = pl.LazyFrame({"Cells_x": [1.0, 2.0, 3.0, 4.0, float("inf")]})
    out = normalize(df, method="robustize").collect()["Cells_x"].to_list()
    assert out[:4] == [-1.0, -0.5, 0.0, 0.5] and out[4] == float("inf")


def test_reference_on_a_missing_column(wells: pl.DataFrame) -> None:
    with pytest.raises(ColumnNotFoundError, match="Metadata_pert_type"):
        normalize(wells.lazy(), reference="Metadata_pert_type == 'control'")
    with pytest.raises(ColumnNotFoundError, match="Metadata_x"):
        normalize(wells.lazy(), reference=pl.col("Metadata_x") == "a")


def test_method_instance_and_fit_transform(wells: pl.DataFrame) -> None:
    instance = MADRobustize(epsilon=0.5)
    via_function = normalize(wells.lazy(), method=instance, reference=NEGCON).collect()
    assert instance.stats_["scale"].equals(instance.stats_["mad"] + 0.5)
    direct = MADRobustize(epsilon=0.5).fit_transform(wells.lazy(), reference=NEGCON).collect()
    assert via_function.equals(direct)
    assert repr(instance) == "MADRobustize(epsilon=0.5)"


def test_inverse_normal_streams_batches_and_keeps_nulls_and_nans(tmp_path: Path) -> None:
    """Several plates, many small row groups (one Python call per batch of rows, all
    features at once), nulls and NaN: scikit-learn's values per plate, bit for bit."""
    from sklearn.preprocessing import QuantileTransformer

    rng = np.random.default_rng(7)
    n = 600
    x = rng.normal(size=n)
    x[[5, 17, 400]] = np.nan
    frame = pl.DataFrame(
        {
            "Metadata_Plate": ["P1"] * 250 + ["P2"] * 350,
            "Cells_x": x,
            "Cells_y": rng.integers(0, 50, size=n),
            "Nuclei_z": pl.Series(rng.gamma(2.0, size=n)).scatter([3, 300, 599], None),
        }
    )
    path = tmp_path / "cells.parquet"
    frame.write_parquet(path, row_group_size=64)
    normalizer = InverseNormal(n_quantiles=100).fit(pl.scan_parquet(path), by="Metadata_Plate")
    got = normalizer.transform(pl.scan_parquet(path)).collect(engine="streaming")
    assert got.columns == frame.columns
    for plate in ("P1", "P2"):
        part = frame.filter(pl.col("Metadata_Plate") == plate)
        mine = got.filter(pl.col("Metadata_Plate") == plate)
        for name in ("Cells_x", "Cells_y", "Nuclei_z"):
            values = part[name].cast(pl.Float64).to_numpy().reshape(-1, 1)
            finite = int(np.isfinite(values).sum())
            qt = QuantileTransformer(n_quantiles=min(100, finite), output_distribution="normal")
            expected = qt.fit(values).transform(values).ravel()
            np.testing.assert_array_equal(mine[name].to_numpy(), expected, err_msg=name)
            assert mine[name].null_count() == part[name].null_count()
    assert got["Cells_x"].is_nan().sum() == 3 and got["Cells_x"].null_count() == 0
    assert got["Nuclei_z"].null_count() == 3 and got["Nuclei_z"][[3, 300, 599]].is_null().all()


def test_an_instance_holds_its_options_and_keys_must_keep_their_type() -> None:
    from cytoplan.ops.normalize import normalize

    df = make_profiles(plates=1, wells=8, features=3, seed=1)
    with pytest.raises(ParameterError, match="pass spherize_method to the Spherize instance"):
        normalize(df.lazy(), method=Spherize(method="PCA"), spherize_method="ZCA")
    with pytest.raises(ParameterError, match="pass features to the MADRobustize instance"):
        normalize(df.lazy(), method=MADRobustize(), features=features_of(df)[:1])
    fitted = Standardize().fit(df.lazy(), by="Metadata_Plate")
    renumbered = df.with_columns(pl.col("Metadata_Plate").str.slice(2).cast(pl.Int64))
    with pytest.raises(SchemaError, match="Metadata_Plate is Int64 here but String in the stat"):
        fitted.transform(renumbered.lazy())
