"""Edge cases of ``annotate``, ``infer_cp_features`` and ``modz`` where the drop-in layer
follows pycytominer 1.7.1 (each one differed or failed before)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pycytominer
import pytest

from cytoplan.compat import pycytominer as compat

from .conftest import assert_same


def _both(function: str, *args: object, **kwargs: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = getattr(compat, function)(*args, **kwargs)
        theirs = getattr(pycytominer, function)(*args, **kwargs)
    return ours, theirs


def test_float_and_integer_keys_match_by_value() -> None:
    # a profile key with a NaN elsewhere is float; the platemap's is integer
    profiles = pd.DataFrame({"Metadata_Plate": [1.0, 2.0, np.nan], "Cells_x": [1.0, 2.0, 3.0]})
    platemap = pd.DataFrame({"Plate": [2, 1], "t": ["a", "b"]})
    ours, theirs = _both(
        "annotate", profiles, platemap, join_on=["Metadata_Plate", "Metadata_Plate"]
    )
    assert_same(ours, theirs)
    assert ours["Metadata_t"].tolist() == ["a", "b"]  # rows were silently dropped


def test_external_keys_of_both_number_kinds_and_missing_booleans() -> None:
    profiles = pd.DataFrame(
        {"Metadata_Well": ["A01", "A01"], "Metadata_Site": [1, 2], "Cells_x": [1.0, 2.0]}
    )
    platemap = pd.DataFrame({"Metadata_Well": ["A01"], "t": ["a"]})
    external = pd.DataFrame(
        {"Metadata_Site": [2.0, np.nan], "flag": [7, 8], "qc_pass": [True, False]}
    )
    ours, theirs = _both(
        "annotate",
        profiles,
        platemap,
        join_on=["Metadata_Well", "Metadata_Well"],
        external_metadata=external,
        external_join_on="Metadata_Site",
    )
    assert_same(ours, theirs)
    # an unmatched boolean is missing, not False
    assert ours["Metadata_qc_pass"].tolist()[1] is not False


def test_a_platemap_column_of_mixed_types_passes_through() -> None:
    profiles = pd.DataFrame({"Metadata_Well": ["A01", "B01"], "Cells_x": [1.0, 2.0]})
    platemap = pd.DataFrame({"well_position": ["A01", "B01"], "dose": [1, "unknown"]})
    ours, theirs = _both("annotate", profiles, platemap)
    assert [str(v) for v in ours["Metadata_dose"]] == [str(v) for v in theirs["Metadata_dose"]]


def test_unknown_cmap_arguments_are_ignored_and_a_non_cmap_file_is_named() -> None:
    profiles = pd.DataFrame({"Metadata_Well": ["A01"], "Cells_x": [1.0]})
    platemap = pd.DataFrame({"well_position": ["A01"], "broad_sample": ["DMSO"]})
    args = {"perturbation_mode": "chemical", "foo": 1}
    ours, theirs = _both("annotate", profiles, platemap, format_broad_cmap=True, cmap_args=args)
    assert_same(ours, theirs)
    plain = pd.DataFrame({"well_position": ["A01"], "t": ["a"]})
    with pytest.raises(ValueError, match="Are you sure this is a CMAP file"):
        compat.annotate(profiles, plain, format_broad_cmap=True)


@pytest.mark.parametrize(
    ("platemap", "join_on", "message"),
    [
        (
            pd.DataFrame({"well_position": ["A01"], "t": ["a"], "Metadata_t": ["b"]}),
            ["Metadata_well_position", "Metadata_Well"],
            "'Metadata_t' appear more than once",
        ),
        (
            pd.DataFrame({"Plate": ["P"], "well_position": ["A01"]}),
            [["Metadata_Plate", "Metadata_well_position"], ["Metadata_Plate", "Metadata_Well"]],
            "combine several key columns into one",
        ),
    ],
)
def test_unsupported_platemaps_get_a_clear_error(
    platemap: pd.DataFrame, join_on: list[object], message: str
) -> None:
    profiles = pd.DataFrame({"Metadata_Plate": ["P"], "Metadata_Well": ["A01"], "Cells_x": [1.0]})
    with pytest.raises(ValueError, match=message):
        compat.annotate(profiles, platemap, join_on=join_on)


def test_boolean_image_columns_are_features_as_in_pandas() -> None:
    frame = pd.DataFrame(
        {"Metadata_W": ["a"], "Cells_x": [1.0], "Image_Count_Cells": [3], "Image_flag": [True]}
    )
    for image_features in (False, True):
        ours = compat.cyto_utils.infer_cp_features(frame, image_features=image_features)
        theirs = pycytominer.cyto_utils.infer_cp_features(frame, image_features=image_features)
        assert ours == theirs
    assert "Image_flag" in compat.cyto_utils.infer_cp_features(frame, compartments=["Image"])


def test_modz_of_a_categorical_key_keeps_the_category_order() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "Metadata_g": pd.Categorical(list("aabbcc"), categories=["c", "b", "a"]),
            **{f"Cells_{c}": rng.normal(size=6) for c in "abc"},
        }
    )
    ours = compat.cyto_utils.modz(frame.copy(), "Metadata_g")
    theirs = pycytominer.cyto_utils.modz(frame.copy(), "Metadata_g")
    assert ours["Metadata_g"].tolist() == theirs["Metadata_g"].tolist() == ["c", "b", "a"]
    assert list(ours["Metadata_g"].cat.categories) == ["c", "b", "a"]
    np.testing.assert_allclose(
        ours.drop(columns="Metadata_g").to_numpy(),
        theirs.drop(columns="Metadata_g").to_numpy(),
        rtol=1e-9,
    )


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame(
            {"Metadata_g": pd.Series(["a", "b", "a"], dtype=object), "Cells_x": [1.0, 2.0, 3.0]}
        ),
        pd.DataFrame({"Metadata_g": [None, None], "Metadata_h": ["x", "y"], "Cells_x": [1.0, 2.0]}),
        pd.DataFrame({"Metadata_g": ["a", "b"], "Cells_x": [1, 2], "Cells_y": [3, 4]}),
    ],
    ids=["object-text-key", "all-missing-key", "integer-features-single-rows"],
)
def test_modz_columns_have_pycytominers_types(frame: pd.DataFrame) -> None:
    keys = [c for c in frame.columns if c.startswith("Metadata_")]
    ours = compat.consensus(frame.copy(), replicate_columns=keys, operation="modz")
    theirs = pycytominer.consensus(frame.copy(), replicate_columns=keys, operation="modz")
    pd.testing.assert_frame_equal(ours, theirs)


def test_annotate_with_external_metadata_drops_duplicate_rows_as_pycytominer() -> None:
    # a platemap repeating a row: pycytominer's drop_duplicates after the external merge
    # collapses the two copies (compat used to keep both)
    profiles = pd.DataFrame({"Metadata_Well": ["A01", "A02"], "Cells_x": [1.0, 2.0]})
    platemap = pd.DataFrame(
        {"well_position": ["A01", "A02", "A01"], "treatment": ["dmso", "drug", "dmso"]}
    )
    external = pd.DataFrame({"treatment": ["dmso", "drug"], "moa": ["control", "m1"]})
    options = {"external_metadata": external, "external_join_on": "Metadata_treatment"}
    ours = compat.annotate(profiles, platemap, **options)
    theirs = pycytominer.annotate(profiles, platemap, **options)
    pd.testing.assert_frame_equal(ours, theirs)
    assert len(ours) == 2
