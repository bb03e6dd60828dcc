"""``cyto_utils`` helpers against pycytominer's."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pycytominer.cyto_utils as theirs
import pytest

from cytoplan.compat.pycytominer import cyto_utils as ours

from .conftest import assert_same


def test_infer_cp_features_matches():
    df = pd.DataFrame(
        {
            "Metadata_Well": ["A"],
            "Cells_x": [1.0],
            "CellsFoo": [1.0],
            "Nuclei_y": [2],
            "Er_Bodies_z": [1.0],
            "Image_Count_Cells": [3],
            "Image_Metadata_Plate": ["p"],
            "ImageNumber": [1],
            "Cytoplasm_nested": [[1, 2]],
        }
    )
    for kwargs in (
        {},
        {"metadata": True},
        {"image_features": True},
        {"compartments": "ER_Bodies"},
        {"compartments": ["cells", "nuclei"]},
    ):
        assert ours.infer_cp_features(df, **kwargs) == theirs.infer_cp_features(df, **kwargs)
    for module in (ours, theirs):
        with pytest.raises(ValueError, match="No features"):
            module.infer_cp_features(df[["Metadata_Well"]])


def test_feature_helpers_match(wells_nan):
    features = ["Cells_AreaShape_Area_0", "Nuclei_AreaShape_Area_2"]
    pd.testing.assert_frame_equal(
        ours.count_na_features(wells_nan, features), theirs.count_na_features(wells_nan, features)
    )
    for kwargs in (
        {},
        {"outlier_cutoff": 3},
        {"features": features, "outlier_cutoff": 2},
        {"samples": "Metadata_control_type == 'negcon'", "outlier_cutoff": 3},
    ):
        assert ours.drop_outlier_features(wells_nan, **kwargs) == theirs.drop_outlier_features(
            wells_nan, **kwargs
        )
    names = ["AreaShape_Area", "ObjectNumber"]
    assert ours.label_compartment(names, "cells", ["ObjectNumber"]) == theirs.label_compartment(
        names, "cells", ["ObjectNumber"]
    )
    for module in (ours, theirs):
        with pytest.raises(ValueError, match="valid compartment"):
            module.label_compartment(names, "nuclei", [])  # pycytominer's "Nuceli" typo
    assert ours.convert_compartment_format_to_list(
        "x"
    ) == theirs.convert_compartment_format_to_list("x")


def test_validators_match():
    for name, good, bad in (
        ("check_aggregate_operation", "Mean", "max"),
        ("check_consensus_operation", "MODZ", "max"),
        ("check_correlation_method", "Kendall", "cosine"),
    ):
        assert getattr(ours, name)(good) == getattr(theirs, name)(good)
        for module in (ours, theirs):
            with pytest.raises(ValueError):
                getattr(module, name)(bad)
    assert ours.check_fields_of_view_format(["1", 2]) == theirs.check_fields_of_view_format(
        ["1", 2]
    )
    assert ours.check_fields_of_view_format("all") == "all"
    for module in (ours, theirs):
        with pytest.raises(TypeError):
            module.check_fields_of_view_format(["a"])
        with pytest.raises(TypeError):
            module.check_fields_of_view_format(3)
        with pytest.raises(ValueError):
            module.check_fields_of_view([1, 2], [3])
        with pytest.raises(ValueError):
            module.check_image_features(["Texture"], ["Image_Granularity_1", "ImageNumber"])
        with pytest.warns(UserWarning, match="Non-canonical"):
            module.check_compartments(["cells", "speckles"])
    assert ours.get_default_compartments() == theirs.get_default_compartments()
    assert ours.load_known_metadata_dictionary() == theirs.load_known_metadata_dictionary()
    assert ours.get_default_linking_cols() == theirs.get_default_linking_cols()
    assert (
        ours.provide_linking_cols_feature_name_update()
        == theirs.provide_linking_cols_feature_name_update()
    )
    ours.assert_linking_cols_complete()
    for module in (ours, theirs):
        with pytest.raises(ValueError):
            module.assert_linking_cols_complete(compartments=["cells", "nuclei"])
        with pytest.raises(ValueError, match="Missing column identifier"):
            module.assert_linking_cols_complete(
                linking_cols={
                    "cytoplasm": {"cells": "a", "nuclei": "b"},
                    "cells": {"cytoplasm": "c"},
                },
            )


def test_extract_image_features_matches():
    image = pd.DataFrame(
        {
            "TableNumber": [1, 1],
            "ImageNumber": [1, 2],
            "Metadata_Plate": ["p", "p"],
            "Metadata_Well": ["A", "B"],
            "Metadata_Site": [1, 2],
            "Count_Cells": [10, 20],
            "Granularity_1_DNA": [0.5, 0.7],
            "Texture_x": [1.0, 2.0],
        }
    )
    args = (
        ["Count", "Granularity"],
        image,
        ["TableNumber", "ImageNumber", "Metadata_Site"],
        ["Metadata_Plate", "Metadata_Well"],
    )
    assert_same(ours.extract_image_features(*args), theirs.extract_image_features(*args))
    counted = ours.aggregate_fields_count(image, ["Metadata_Plate"], "Metadata_Site")
    assert_same(counted, theirs.aggregate_fields_count(image, ["Metadata_Plate"], "Metadata_Site"))


@pytest.mark.parametrize("method", ["pearson", "spearman", "kendall"])
def test_get_pairwise_correlation_matches(wells_nan, method):
    x = wells_nan.filter(like="_Area")
    a_matrix, a_pairs = ours.get_pairwise_correlation(x, method=method)
    b_matrix, b_pairs = theirs.get_pairwise_correlation(x, method=method)
    pd.testing.assert_frame_equal(a_matrix, b_matrix, rtol=1e-9)
    pd.testing.assert_frame_equal(a_pairs, b_pairs, rtol=1e-9)


def test_modz_kendall_equals_pycytominer_on_small_random_groups():
    # tau-b over a few features often puts a weight on a rounding boundary (seeds 138
    # and 282 tip one): compat rounds tau-b as the installed pandas does (SciPy under
    # pandas 2, its own kernel from pandas 3 on), so the weights are the same
    for seed in [*range(40), 138, 282]:
        rng = np.random.default_rng(seed)
        n_groups, d = int(rng.integers(1, 5)), int(rng.integers(1, 12))
        sizes = rng.integers(1, 6, size=n_groups)
        shape = (int(sizes.sum()), d)
        if seed % 2:
            values = rng.integers(-3, 4, size=shape).astype(float)  # ties
        else:
            values = rng.normal(size=shape)
        draw = rng.random(shape)
        values[draw < 0.1] = np.nan
        values[(draw > 0.1) & (draw < 0.13)] = np.inf
        values[(draw > 0.13) & (draw < 0.15)] = -np.inf
        frame = pd.DataFrame(values, columns=[f"Cells_f{i}" for i in range(d)])
        frame["Metadata_g"] = np.repeat([f"g{i}" for i in range(n_groups)], sizes)
        assert_same(
            ours.modz(frame, "Metadata_g", method="kendall"),
            theirs.modz(frame, "Metadata_g", method="kendall"),
        )


def test_modz_matches(wells_nan):
    for kwargs in (
        {"replicate_columns": "Metadata_broad_sample"},
        {"replicate_columns": ["Metadata_Plate", "Metadata_control_type"], "method": "pearson"},
        {"replicate_columns": ["Metadata_Plate", "Metadata_control_type"], "method": "kendall"},
        {"replicate_columns": "Metadata_broad_sample", "min_weight": 0.5, "precision": 1},
        {"replicate_columns": "Metadata_broad_sample", "features": "Cells_AreaShape_Area_0"},
    ):
        assert_same(ours.modz(wells_nan, **kwargs), theirs.modz(wells_nan, **kwargs))
    assert isinstance(ours.modz(wells_nan, replicate_columns=3), ValueError)
    from pycytominer.cyto_utils.modz import modz_base as theirs_base

    from cytoplan.compat.pycytominer.cyto_utils.modz import modz_base as ours_base

    block = wells_nan.filter(like="Cells_").iloc[:4]
    pd.testing.assert_series_equal(ours_base(block), theirs_base(block), rtol=1e-12)
    for base in (ours_base, theirs_base):
        with pytest.raises(ValueError, match="at least one"):
            base(block.iloc[:0])


def test_blocklist_matches(tmp_path: Path, wells):
    assert ours.get_blocklist_features() == theirs.get_blocklist_features()
    assert len(ours.Blocklist("default")) == 55
    assert ours.Blocklist("default").to_list() == theirs.Blocklist("default").to_list()
    frame = wells.assign(Nuclei_Granularity_14_AGP=1.0)
    for kwargs in (
        {"population_df": frame},
        {"blocklist": "Cells_x"},
        {"blocklist": ["Cells_x", 3]},
        {"blocklist": ours.Blocklist(features_to_block=["Cells_y"])},
        {"blocklist_name": "default", "population_df": frame},
    ):
        theirs_kwargs = dict(kwargs)
        if isinstance(kwargs.get("blocklist"), ours.Blocklist):
            theirs_kwargs["blocklist"] = theirs.Blocklist(features_to_block=["Cells_y"])
        assert ours.get_blocklist_features(**kwargs) == theirs.get_blocklist_features(
            **theirs_kwargs
        )
    legacy = tmp_path / "blocklist.csv"
    legacy.write_text("blocklist\nCells_a\nNuclei_b\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ours.get_blocklist_features(blocklist_file=legacy) == ["Cells_a", "Nuclei_b"]
    registry = tmp_path / "lists.yaml"
    registry.write_text("mine:\n  - Cells_a\n  - 3\n")
    assert (
        ours.Blocklist("mine", blocklists_file=registry).to_list()
        == theirs.Blocklist("mine", blocklists_file=registry).to_list()
    )
    for module in (ours, theirs):
        with pytest.raises(ValueError, match="Unknown blocklist"):
            module.Blocklist("nope")
        with pytest.raises(TypeError):
            module.get_blocklist_features(blocklist=3)
        with pytest.raises(TypeError):
            module.Blocklist().add("Cells_a")


def test_annotate_helpers_match(wells):
    df = wells.rename(
        columns={"Metadata_Well": "Image_Metadata_Well", "Metadata_Plate": "Image_Metadata_Plate"}
    )
    assert_same(ours.cp_clean(df), theirs.cp_clean(df))
    ext = pd.DataFrame(
        {
            "well": ["A"],
            "Cells_x": [1.0],
            "Metadata_y": [1],
            "Image_q": [2.0],
            "Image_Metadata_z": ["a"],
            "Image_text": ["t"],
        }
    )
    assert list(ours.prepare_external_metadata_for_annotate(ext).columns) == list(
        theirs.prepare_external_metadata_for_annotate(ext).columns
    )
    cmap = wells.assign(
        Metadata_broad_sample=[
            "DMSO" if i % 4 == 0 else f"BRD-K{i:05d}-001-01-1" for i in range(len(wells))
        ],
        Metadata_mmoles_per_liter=1.0,
        Metadata_solvent="DMSO",
    )
    for mode in ("none", "chemical"):
        assert_same(
            ours.annotate_cmap(cmap, "Metadata_Well", perturbation_mode=mode),
            theirs.annotate_cmap(cmap, "Metadata_Well", perturbation_mode=mode),
        )
    for module in (ours, theirs):
        with pytest.raises(ValueError):
            module.annotate_cmap(cmap, "Metadata_Well", perturbation_mode="x")
        with pytest.raises(ValueError):
            module.annotate_cmap(wells.drop(columns="Metadata_broad_sample"), "Metadata_Well")


def test_loaders_match(tmp_path: Path, wells):
    for name, sep in (("w.csv", ","), ("w.tsv", "\t"), ("w.csv.gz", ",")):
        path = tmp_path / name
        wells.to_csv(path, sep=sep, index=False)
        assert ours.infer_delim(path) == theirs.infer_delim(path) == sep
        assert_same(ours.load_profiles(path), theirs.load_profiles(path))
    assert ours.load_profiles(wells) is wells
    folder = tmp_path / "dataset"
    folder.mkdir()
    wells.iloc[:10].to_parquet(folder / "a.parquet")
    wells.iloc[10:].to_parquet(folder / "b.parquet")
    assert_same(ours.load_profiles(folder), theirs.load_profiles(folder))
    platemap = pd.DataFrame({"well_position": ["A01"], "Metadata_x": [1], "dose": [0.1]})
    pm_path = tmp_path / "pm.txt"
    platemap.to_csv(pm_path, sep="\t", index=False)
    for source in (platemap, pm_path):
        for add in (True, False):
            assert_same(ours.load_platemap(source, add), theirs.load_platemap(source, add))
    for module in (ours, theirs):
        with pytest.raises(FileNotFoundError):
            module.load_profiles(tmp_path / "missing.csv")
        with pytest.raises(FileNotFoundError):
            module.load_platemap(str(tmp_path / "missing.csv"))


def test_output_matches(tmp_path: Path, wells):
    for kwargs in (
        {},
        {"compression_options": None},
        {"compression_options": {"method": "gzip", "mtime": 1}},
        {"float_format": "%.3f", "sep": "\t", "compression_options": None},
    ):
        # same file name in two folders: the gzip header records the name
        (tmp_path / "a").mkdir(exist_ok=True)
        (tmp_path / "b").mkdir(exist_ok=True)
        a, b = tmp_path / "a" / "w.csv.gz", tmp_path / "b" / "w.csv.gz"
        assert ours.output(wells, str(a), **kwargs) == str(a)
        theirs.output(wells, str(b), **kwargs)
        assert a.read_bytes() == b.read_bytes(), kwargs
    for module in (ours, theirs):
        with pytest.raises(ValueError):
            module.output(wells, str(tmp_path / "x.csv"), compression_options="bz2")
    assert ours.output(wells, str(tmp_path / "nothing"), output_type="json") == str(
        tmp_path / "nothing"
    )
    assert not (tmp_path / "nothing").exists()


def test_write_gct_matches(tmp_path: Path, wells_nan):
    profiles = wells_nan.iloc[:6]
    for kwargs in (
        {},
        {
            "features": ["Cells_AreaShape_Area_0", "Nuclei_AreaShape_Area_2"],
            "meta_features": ["Metadata_Well"],
        },
    ):
        ours.write_gct(profiles, str(tmp_path / "a.gct"), **kwargs)
        theirs.write_gct(profiles, str(tmp_path / "b.gct"), **kwargs)
        assert (tmp_path / "a.gct").read_text() == (tmp_path / "b.gct").read_text()
    meta = pd.DataFrame(
        {"kind": ["id", "area", "area", "x", "x", "x", "x"]},
        index=["id", *[c for c in profiles.columns if c.startswith(("Cells", "Nuc", "Cyt"))][:6]],
    )
    ours.write_gct(profiles, str(tmp_path / "a.gct"), feature_metadata=meta)
    theirs.write_gct(profiles, str(tmp_path / "b.gct"), feature_metadata=meta)
    assert (tmp_path / "a.gct").read_text() == (tmp_path / "b.gct").read_text()
    for module in (ours, theirs):
        with pytest.raises(ValueError, match=r"1\.3"):
            module.write_gct(profiles, str(tmp_path / "c.gct"), version="#1.2")
        with pytest.raises(ValueError, match="id"):
            module.write_gct(profiles, str(tmp_path / "c.gct"), feature_metadata=meta.iloc[1:])


@pytest.mark.parametrize(
    "change",
    [
        {"Nuclei_C": [1, 2, 3, 4]},
        {"Cells_A": np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)},
        {"Cells_A": np.float32(0.1), "Cells_B": np.float32(0.7)},
        {"Cells_A": [1, 2, 3, 4], "Cells_B": np.array([0.5] * 4, dtype=np.float32)},
        {"Nuclei_C": pd.array([1, None, 3, 4], dtype="Int64")},
        {"Metadata_Plate": [1, 2, 3, 4], "Metadata_Well": [0.5, 1.0, 2.0, 3.0]},
    ],
    ids=[
        "int_beside_float",
        "float32",
        "float32_only",
        "int_beside_float32",
        "Int64",
        "numeric_meta",
    ],
)
def test_write_gct_values_as_pandas_holds_them(tmp_path: Path, change):
    """Each block is written in the dtype pandas gives its transpose (byte-identical)."""
    profiles = pd.DataFrame(
        {
            "Metadata_Plate": ["P1"] * 4,
            "Metadata_Well": ["A01", "A01", "B01", "B01"],
            "Cells_A": [1.0, 2.0, 3.0, 4.0],
            "Cells_B": [1.0, 1.0, 1.0, 5.0],
        }
    ).assign(**change)
    ours.write_gct(profiles, str(tmp_path / "a.gct"))
    theirs.write_gct(profiles, str(tmp_path / "b.gct"))
    assert (tmp_path / "a.gct").read_bytes() == (tmp_path / "b.gct").read_bytes()


def test_module_layout_mirrors_pycytominer():
    import importlib

    for name in (
        "aggregate",
        "annotate",
        "normalize",
        "feature_select",
        "consensus",
        "operations",
        "operations.transform",
        "operations.correlation_threshold",
        "operations.variance_threshold",
        "operations.frequency_threshold",
        "operations.get_na_columns",
        "operations.noise_removal",
        "cyto_utils",
        "cyto_utils.cells",
        "cyto_utils.modz",
        "cyto_utils.features",
        "cyto_utils.load",
        "cyto_utils.output",
        "cyto_utils.util",
        "cyto_utils.write_gct",
        "cyto_utils.annotate_custom",
        "cyto_utils.blocklist",
        "cyto_utils.DeepProfiler_processing",
        "cyto_utils.cell_locations",
        "cyto_utils.collate",
        "cyto_utils.single_cell_ingest_utils",
        "cyto_utils.cp_image_features",
        "cyto_utils.anndata_utils",
    ):
        module = importlib.import_module(f"cytoplan.compat.pycytominer.{name}")
        reference = importlib.import_module(f"pycytominer.{name}")
        public = {
            n
            for n in dir(reference)
            if not n.startswith("_")
            and callable(getattr(reference, n))
            and getattr(getattr(reference, n), "__module__", "").startswith("pycytominer")
        }
        missing = sorted(n for n in public if not hasattr(module, n))
        assert not missing, (name, missing)
    assert callable(importlib.import_module("cytoplan.compat.pycytominer").aggregate)
