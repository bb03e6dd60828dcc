"""annotate: parity with pycytominer 1.7.1 for every option, and reported join problems."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cytoplan.exceptions import (
    ColumnNotFoundError,
    JoinError,
    ParameterError,
    SchemaError,
)
from cytoplan.ops.annotate import annotate, annotate_cmap, cp_clean
from cytoplan.testing.profiles import make_profiles

pycytominer = pytest.importorskip("pycytominer")


@pytest.fixture(scope="module")
def profiles() -> pl.DataFrame:
    df = make_profiles(plates=2, wells=24, features=6, seed=2)
    return df.with_columns(
        pl.lit("1").alias("Image_Metadata_Site"),
        pl.int_range(pl.len()).alias("ImageNumber"),
    )


@pytest.fixture(scope="module")
def platemap() -> pl.DataFrame:
    wells = [f"A{i:02d}" for i in range(1, 25)]
    rng = np.random.default_rng(0)
    order = rng.permutation(24)
    samples = ["DMSO" if i % 4 == 0 else f"BRD-K{i:05d}-001-01-1" for i in range(24)]
    samples[5] = "empty"
    samples[9] = None  # type: ignore[call-overload]
    return pl.DataFrame(
        {
            "plate_map_name": ["PM1"] * 24,
            "well_position": [wells[i] for i in order],
            "broad_sample": [samples[i] for i in order],
            "pert_iname": [None if samples[i] is None else f"cpd{i}" for i in order],
            "mmoles_per_liter": [float(i) for i in order],
            "solvent": ["DMSO"] * 24,
        }
    )


def _reference(profiles: pl.DataFrame, platemap: pl.DataFrame, **kwargs: object) -> pd.DataFrame:
    for key in ("external_metadata",):
        if isinstance(kwargs.get(key), pl.DataFrame):
            kwargs[key] = kwargs[key].to_pandas()  # type: ignore[union-attr]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pycytominer.annotate(profiles.to_pandas(), platemap.to_pandas(), **kwargs)
    assert isinstance(out, pd.DataFrame)
    return out


def _assert_matches(got: pl.DataFrame, expected: pd.DataFrame) -> None:
    assert got.columns == list(expected.columns)
    assert got.height == len(expected)
    for name in got.columns:
        column = got[name]
        if column.dtype.is_numeric():
            np.testing.assert_array_equal(
                column.to_numpy().astype(float), expected[name].to_numpy().astype(float), name
            )
        else:
            want = [None if pd.isna(v) else str(v) for v in expected[name]]
            assert [None if v is None else str(v) for v in column.to_list()] == want, name


def test_default_join_platemap_order_prefix_and_collision(
    profiles: pl.DataFrame, platemap: pl.DataFrame
) -> None:
    got = annotate(profiles.lazy(), platemap).collect()
    expected = _reference(profiles, platemap)
    _assert_matches(got, expected)
    assert "Metadata_broad_sample_platemap" in got.columns
    assert "Metadata_Site" in got.columns  # cleaned from Image_Metadata_Site
    assert got.columns[0] == "Metadata_plate_map_name"
    # platemap order, then profile order (plate 1 before plate 2) within a well
    first = platemap["well_position"][0]
    assert got["Metadata_Well"][:2].to_list() == [first, first]
    assert got["Metadata_Plate"][:2].to_list() == ["BR00000001", "BR00000002"]


def test_order_profiles_keeps_profile_rows_in_place(
    profiles: pl.DataFrame, platemap: pl.DataFrame
) -> None:
    got = annotate(profiles.lazy(), platemap, order="profiles").collect()
    by_platemap = annotate(profiles.lazy(), platemap).collect()
    assert got.columns == by_platemap.columns
    assert got["Metadata_Well"].to_list() == profiles["Metadata_Well"].to_list()
    assert got.sort("Metadata_Plate", "Metadata_Well").equals(
        by_platemap.sort("Metadata_Plate", "Metadata_Well")
    )


def test_same_key_name_and_no_prefix(profiles: pl.DataFrame, platemap: pl.DataFrame) -> None:
    renamed = platemap.rename({"well_position": "Metadata_Well"})
    got = annotate(profiles.lazy(), renamed, join_on=["Metadata_Well", "Metadata_Well"]).collect()
    _assert_matches(got, _reference(profiles, renamed, join_on=["Metadata_Well", "Metadata_Well"]))
    assert got.columns.count("Metadata_Well") == 1

    plain = annotate(
        profiles.lazy(),
        platemap,
        join_on=["well_position", "Metadata_Well"],
        add_metadata_prefix=False,
        clean_cellprofiler=False,
    ).collect()
    expected = _reference(
        profiles,
        platemap,
        join_on=["well_position", "Metadata_Well"],
        add_metadata_id_to_platemap=False,
        clean_cellprofiler=False,
    )
    _assert_matches(plain, expected)
    assert "Image_Metadata_Site" in plain.columns
    assert plain.columns.index("broad_sample") > plain.columns.index("Metadata_Well")


def test_keys_compared_as_text(profiles: pl.DataFrame) -> None:
    numbered = profiles.with_columns(pl.col("Metadata_Well").str.slice(1).cast(pl.Int64))
    plate = pl.DataFrame({"well_position": [f"{i:02d}" for i in range(1, 25)], "x": ["a"] * 24})
    with pytest.raises(JoinError):  # "1" != "01": reported, not silently dropped
        annotate(numbered.lazy(), plate)
    plate = plate.with_columns(pl.col("well_position").str.strip_chars_start("0"))
    got = annotate(numbered.lazy(), plate).collect()
    assert got.height == profiles.height
    assert got["Metadata_Well"].dtype == pl.Int64


def test_external_metadata(profiles: pl.DataFrame, platemap: pl.DataFrame) -> None:
    keys = profiles.select("Metadata_Plate", "Metadata_Well")
    external = keys.with_columns(
        (pl.int_range(pl.len()) % 3 == 0).alias("qc_flag"),
        pl.lit("ext").alias("Metadata_control_type"),  # collides: gets _external
        pl.lit(1.5).alias("Cells_QC_score"),  # a feature keeps its name
    ).head(40)
    external = pl.concat([external, external.head(5)])  # exact duplicates are dropped
    join_keys = ["Metadata_Plate", "Metadata_Well"]
    got = annotate(
        profiles.lazy(), platemap, external_metadata=external, external_join_on=join_keys
    ).collect()
    expected = _reference(
        profiles, platemap, external_metadata=external, external_join_on=join_keys
    )
    _assert_matches(got, expected)
    assert {"Metadata_qc_flag", "Metadata_control_type_external", "Cells_QC_score"} <= set(
        got.columns
    )
    assert got["Metadata_qc_flag"].null_count() == profiles.height - 40

    conflicting = external.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(False)
        .otherwise(pl.col("qc_flag"))
        .alias("qc_flag")
    )
    conflicting = pl.concat([conflicting, external.head(1)])
    with pytest.raises(JoinError, match="more than once in the external metadata"):
        annotate(
            profiles.lazy(), platemap, external_metadata=conflicting, external_join_on=join_keys
        )
    allowed = annotate(
        profiles.lazy(),
        platemap,
        external_metadata=conflicting,
        external_join_on=join_keys,
        duplicates="allow",
    ).collect()
    assert allowed.height == profiles.height + 1


@pytest.mark.skipif(
    int(pd.__version__.split(".")[0]) < 3,
    reason="pycytominer's annotate_cmap treats missing broad samples differently under pandas 2",
)
@pytest.mark.parametrize("mode", ["none", "chemical", "genetic"])
def test_cmap(profiles: pl.DataFrame, platemap: pl.DataFrame, mode: str) -> None:
    base = profiles.drop("Metadata_broad_sample")
    plate = platemap
    if mode == "genetic":
        plate = platemap.with_columns(
            pl.when(pl.col("broad_sample") == "DMSO")
            .then(pl.lit("EMPTY"))
            .otherwise(pl.col("pert_iname"))
            .alias("pert_name")
        ).drop("pert_iname")
    args = {"cell_id": "A549", "perturbation_mode": mode}
    got = annotate(base.lazy(), plate, format_broad_cmap=True, cmap_args=args).collect()
    expected = _reference(base, plate, format_broad_cmap=True, cmap_args=args)
    _assert_matches(got, expected)
    if mode == "chemical":
        types = dict(zip(got["Metadata_pert_mfc_id"], got["Metadata_pert_type"], strict=True))
        assert types["DMSO"] == "control"
        assert types["empty"] == "empty"
        assert types[None] == "control"
        controls = got.filter(pl.col("Metadata_pert_type") == "control")
        assert controls["Metadata_broad_sample"].unique().to_list() == ["DMSO"]
        assert controls["Metadata_mmoles_per_liter"].unique().to_list() == [0.0]


def test_unmatched_profiles_are_reported(profiles: pl.DataFrame, platemap: pl.DataFrame) -> None:
    partial = platemap.filter(~pl.col("well_position").is_in(["A03", "A07"]))
    with pytest.raises(JoinError, match=r"4 profile row\(s\) with 2 value\(s\).*'A03', 'A07'"):
        annotate(profiles.lazy(), partial)
    got = annotate(profiles.lazy(), partial, unmatched="drop").collect()
    _assert_matches(got, _reference(profiles, partial))  # pycytominer drops them silently


def test_duplicated_platemap_keys_are_reported(
    profiles: pl.DataFrame, platemap: pl.DataFrame
) -> None:
    doubled = pl.concat([platemap, platemap.head(2)])
    with pytest.raises(JoinError, match=r"4 profile row\(s\) would be repeated"):
        annotate(profiles.lazy(), doubled)
    got = annotate(profiles.lazy(), doubled, duplicates="allow").collect()
    _assert_matches(got, _reference(profiles, doubled))
    assert got.height == profiles.height + 4


def test_errors(profiles: pl.DataFrame, platemap: pl.DataFrame) -> None:
    lf = profiles.lazy()
    with pytest.raises(ColumnNotFoundError, match="Metadata_pos"):
        annotate(lf, platemap, join_on=["Metadata_pos", "Metadata_Well"])
    with pytest.raises(ColumnNotFoundError, match="Metadata_Nope"):
        annotate(lf, platemap, join_on=["Metadata_well_position", "Metadata_Nope"])
    with pytest.raises(ParameterError, match="join_on must be"):
        annotate(lf, platemap, join_on=["a", "b", "c"])
    with pytest.raises(
        ParameterError, match="external_metadata must be given with external_join_on"
    ):
        annotate(lf, platemap, external_join_on=["Metadata_Well"])
    with pytest.raises(
        ParameterError, match="unmatched must be one of 'raise', 'drop', got 'keep'"
    ):
        annotate(lf, platemap, unmatched="keep")  # type: ignore[arg-type]
    clash = profiles.with_columns(pl.lit("P").alias("Image_Metadata_Plate"))
    with pytest.raises(SchemaError, match="Image_Metadata_Plate -> Metadata_Plate"):
        annotate(clash.lazy(), platemap)
    with pytest.raises(ParameterError, match="perturbation_mode must be one of"):
        annotate(lf, platemap, format_broad_cmap=True, cmap_args={"perturbation_mode": "x"})
    no_sample = profiles.drop("Metadata_broad_sample").lazy()
    with pytest.raises(ColumnNotFoundError, match="Metadata_broad_sample"):
        annotate(no_sample, platemap.drop("broad_sample"), format_broad_cmap=True)


def test_helpers_are_lazy() -> None:
    lf = pl.LazyFrame({"Image_Metadata_Plate": ["P"], "Metadata_broad_sample": ["BRD-K1-01"]})
    assert isinstance(cp_clean(lf), pl.LazyFrame)
    out = annotate_cmap(cp_clean(lf), join_on="Metadata_Plate").collect()
    assert out["Metadata_pert_well"].to_list() == ["P"]
    assert out["Metadata_pert_type"].to_list() == [""]
