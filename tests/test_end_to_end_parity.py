"""The whole profiling chain on the bundled fixtures equals pycytominer applied step by step.

SQLite plates → merged single cells → well medians (with object counts) → platemap
annotation → per-plate mad_robustize against negative controls → feature selection
→ MODZ consensus per compound. Tolerances: medians exact; everything downstream of
the MAD within 1e-9 relative (spec §8).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import cytoplan as cp

pd = pytest.importorskip("pandas")
pycytominer = pytest.importorskip("pycytominer")

WORKSPACE = (
    Path(__file__).resolve().parents[1] / "data_fixtures" / "cpg0000-synthetic" / "workspace"
)
BACKEND = WORKSPACE / "backend" / "2024_01_01_Batch1"
PLATEMAP = (
    WORKSPACE / "metadata" / "platemaps" / "2024_01_01_Batch1" / "platemap" / "platemap_1.txt"
)
PLATES = ["BR00000001", "BR00000002"]
NEGCON = "Metadata_control_type == 'negcon'"
OPERATIONS = ["variance_threshold", "correlation_threshold", "drop_na_columns", "blocklist"]
KEYS = ["Metadata_Plate", "Metadata_Well"]


def _sqlite(plate: str) -> Path:
    return BACKEND / plate / f"{plate}.sqlite"


@pytest.fixture(scope="module")
def reference() -> dict[str, pd.DataFrame]:
    """pycytominer 1.7.1, one step at a time, per plate where it needs that."""
    from pycytominer.cyto_utils.cells import SingleCells

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wells = []
        for plate in PLATES:
            merged = SingleCells(sql_file=f"sqlite:///{_sqlite(plate)}").merge_single_cells()
            wells.append(pycytominer.aggregate(merged, strata=KEYS, compute_object_count=True))
        aggregated = pd.concat(wells, ignore_index=True)
        annotated = pycytominer.annotate(aggregated, platemap=str(PLATEMAP))
        normalized = pd.concat(
            [
                pycytominer.normalize(
                    annotated[annotated.Metadata_Plate.astype(str) == plate],
                    method="mad_robustize",
                    samples=NEGCON,
                )
                for plate in PLATES
            ]
        )
        selected = pycytominer.feature_select(normalized, operation=OPERATIONS)
        consensus = pycytominer.consensus(
            selected, replicate_columns=["Metadata_broad_sample"], operation="modz"
        )
    return {
        "aggregated": aggregated,
        "annotated": annotated,
        "normalized": normalized,
        "selected": selected,
        "consensus": consensus,
    }


@pytest.fixture(scope="module")
def ours() -> dict[str, pl.DataFrame]:
    cells = pl.concat([cp.scan_cellprofiler_sqlite(_sqlite(plate)) for plate in PLATES])
    aggregated = cp.aggregate(cells, strata=KEYS, object_count=True)
    annotated = cp.annotate(aggregated, PLATEMAP)
    normalized = cp.normalize(
        annotated, method="mad_robustize", reference=NEGCON, by="Metadata_Plate"
    )
    selected = cp.feature_select(normalized, operations=OPERATIONS)
    consensus = cp.consensus(selected, replicate_columns=["Metadata_broad_sample"], method="modz")
    return {
        name: frame.collect()
        for name, frame in {
            "aggregated": aggregated,
            "annotated": annotated,
            "normalized": normalized,
            "selected": selected,
            "consensus": consensus,
        }.items()
    }


def _features(frame: pd.DataFrame | pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.split("_", 1)[0] in ("Cells", "Cytoplasm", "Nuclei")]


def _compare(ours: pl.DataFrame, theirs: pd.DataFrame, keys: list[str], *, rtol: float) -> None:
    assert _features(ours) == _features(theirs)
    mine = ours.sort(keys)
    other = pl.from_pandas(theirs.reset_index(drop=True).astype({k: str for k in keys})).sort(keys)
    assert mine.select(keys).equals(other.select(keys))
    for name in _features(ours):
        np.testing.assert_allclose(
            mine[name].cast(pl.Float64).fill_null(np.nan).to_numpy(),
            other[name].cast(pl.Float64).fill_null(np.nan).to_numpy(),
            rtol=rtol,
            atol=1e-12,
            err_msg=name,
        )


def test_well_medians_and_object_counts(ours: dict, reference: dict) -> None:
    _compare(ours["aggregated"], reference["aggregated"], KEYS, rtol=0)
    counts = ours["aggregated"].sort(KEYS)["Metadata_Object_Count"].to_list()
    assert counts == reference["aggregated"]["Metadata_Object_Count"].tolist()
    assert ours["aggregated"].height == 48


def test_annotation_follows_platemap_order(ours: dict, reference: dict) -> None:
    theirs = reference["annotated"]
    assert ours["annotated"]["Metadata_Well"].to_list() == theirs["Metadata_Well"].tolist()
    assert ours["annotated"]["Metadata_broad_sample"].to_list() == (
        theirs["Metadata_broad_sample"].tolist()
    )
    _compare(ours["annotated"], theirs, KEYS, rtol=0)


def test_per_plate_negcon_normalization(ours: dict, reference: dict) -> None:
    _compare(ours["normalized"], reference["normalized"], KEYS, rtol=1e-9)
    negcon = ours["normalized"].filter(pl.col("Metadata_control_type") == "negcon")
    medians = negcon.group_by("Metadata_Plate").agg(pl.col(_features(negcon)).median())
    assert np.nanmax(np.abs(medians.select(_features(negcon)).to_numpy())) < 1e-12


def test_feature_selection_keeps_the_same_features(ours: dict, reference: dict) -> None:
    assert set(_features(ours["selected"])) == set(_features(reference["selected"]))
    assert len(_features(ours["selected"])) < len(_features(ours["normalized"]))


def test_modz_consensus(ours: dict, reference: dict) -> None:
    _compare(ours["consensus"], reference["consensus"], ["Metadata_broad_sample"], rtol=1e-9)
