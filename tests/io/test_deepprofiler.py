"""DeepProfiler npz reader: generated projects read back, lazily, one file at a time."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cytoplan.exceptions import ColumnNotFoundError, SourceError
from cytoplan.io.deepprofiler import (
    read_index,
    read_npz,
    read_npz_features,
    read_npz_locations,
    scan_deepprofiler,
)
from cytoplan.ops.aggregate import aggregate
from cytoplan.testing.deepprofiler import write_deepprofiler_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return write_deepprofiler_project(tmp_path_factory.mktemp("dp"), n_features=4, seed=3)


def test_round_trip_equals_the_arrays(project):
    lf = scan_deepprofiler(project.index_file, project.profile_dir)
    frame = lf.collect()
    expected_rows = 0
    for plate in project.plates:
        for well in project.wells:
            for site in project.sites:
                arrays = read_npz(project.profile_dir / plate / f"{well}_{site}.npz")
                part = frame.filter(
                    (pl.col("Metadata_Plate") == plate)
                    & (pl.col("Metadata_Well") == well)
                    & (pl.col("Metadata_Site") == site)
                )
                np.testing.assert_array_equal(
                    part.select(f"efficientnet_{i}" for i in range(4)).to_numpy(),
                    arrays["features"].astype(np.float64),
                )
                np.testing.assert_array_equal(
                    part.select("Location_Center_X", "Location_Center_Y").to_numpy(),
                    arrays["locations"][:, :2],
                )
                assert arrays["metadata"]["Model"] == "efficientnet"
                expected_rows += arrays["features"].shape[0]
    assert frame.height == expected_rows
    assert frame["Treatment"].unique().sort().to_list() == ["DMSO", "cpd1", "cpd2"]


def test_projection_predicate_and_limit(project):
    lf = scan_deepprofiler(project.index_file, project.profile_dir)
    well = lf.filter(pl.col("Metadata_Well") == "A02").select("efficientnet_1").collect()
    full = lf.collect().filter(pl.col("Metadata_Well") == "A02")
    assert well["efficientnet_1"].to_list() == full["efficientnet_1"].to_list()
    assert lf.head(5).collect().height == 5


def test_aggregate_to_wells_matches_numpy(project):
    lf = scan_deepprofiler(project.index_file, project.profile_dir)
    wells = aggregate(
        lf, strata=["Metadata_Plate", "Metadata_Well"], features=["efficientnet_0"], method="mean"
    ).collect()
    arrays = [
        read_npz(project.profile_dir / "P2" / f"B01_{s}.npz")["features"][:, 0]
        for s in project.sites
    ]
    row = wells.filter((pl.col("Metadata_Plate") == "P2") & (pl.col("Metadata_Well") == "B01"))
    assert row["efficientnet_0"].item() == pytest.approx(
        np.concatenate(arrays).astype(float).mean()
    )
    assert wells.height == len(project.plates) * len(project.wells)


def test_single_file_readers(project):
    path = project.profile_dir / "P1" / "A01_1.npz"
    features = read_npz_features(path)
    assert features.columns[:3] == ["Metadata_Plate", "Metadata_Well", "Metadata_Site"]
    assert [c for c in features.columns if c.startswith("efficientnet_")] == [
        f"efficientnet_{i}" for i in range(4)
    ]
    assert "Metadata_Model" in features.columns
    raw = read_npz_features(path, metadata=False)
    assert raw.columns == ["0", "1", "2", "3"]
    swapped = read_npz_locations(path, x_index=1, y_index=0)
    normal = read_npz_locations(path)
    assert swapped["Location_Center_X"].to_list() == normal["Location_Center_Y"].to_list()
    with pytest.raises(IndexError):
        read_npz_locations(path, x_index=2)


def test_fallback_prefix_without_metadata(tmp_path):
    path = tmp_path / "P" / "A01_1.npz"
    path.parent.mkdir()
    np.savez(path, features=np.ones((2, 3), dtype=np.float32), locations=np.zeros((2, 2)))
    assert read_npz_features(path).columns == ["DP_0", "DP_1", "DP_2"]
    assert read_npz_features(path, fallback_feature_prefix="cnn").columns[0] == "cnn_0"


def test_config_names_the_features(project, tmp_path):
    from cytoplan.io.deepprofiler import config_model, read_config

    assert config_model(read_config(project.config_file)) == "efficientnet"
    root = tmp_path / "bare"
    (root / "P").mkdir(parents=True)
    np.savez(root / "P" / "A01_1.npz", features=np.ones((2, 2)), locations=np.zeros((2, 2)))
    index = pl.DataFrame(
        {"Metadata_Plate": ["P"], "Metadata_Well": ["A01"], "Metadata_Site": ["1"]}
    )
    assert scan_deepprofiler(index, root).collect_schema().names()[-1] == "DP_1"
    named = scan_deepprofiler(index, root, config=project.config_file)
    assert named.collect_schema().names()[-2:] == ["efficientnet_0", "efficientnet_1"]
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(SourceError, match="not valid JSON"):
        read_config(bad)
    with pytest.raises(SourceError, match="not found"):
        read_config(tmp_path / "none.json")


def test_errors(project, tmp_path):
    with pytest.raises(SourceError, match="not found"):
        read_npz(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(SourceError, match="not a readable"):
        read_npz(bad)
    index = pl.read_csv(project.index_file, infer_schema=False)
    with pytest.raises(ColumnNotFoundError):
        read_index(index.drop("Metadata_Site"))
    extra = pl.concat([index, index.head(1).with_columns(pl.lit("Z99").alias("Metadata_Well"))])
    with pytest.raises(SourceError, match="missing"):
        scan_deepprofiler(extra, project.profile_dir)
    skipped = scan_deepprofiler(extra, project.profile_dir, missing="skip").collect()
    assert skipped.height == scan_deepprofiler(index, project.profile_dir).collect().height


def test_locations_must_describe_the_same_cells_and_aggregates_need_none(tmp_path):
    import subprocess
    import sys

    root = tmp_path / "features"
    (root / "P").mkdir(parents=True)
    index = tmp_path / "index.csv"
    index.write_text("Metadata_Plate,Metadata_Well,Metadata_Site\nP,A01,1\n")
    # 3 cells, 2 locations: a raw Polars ShapeError before
    np.savez(root / "P" / "A01_1.npz", features=np.ones((3, 2)), locations=np.zeros((2, 2)))
    frame = pl.read_csv(index, infer_schema=False)
    with pytest.raises(SourceError, match="has 2 locations for 3 cells"):
        scan_deepprofiler(frame, root).collect()
    # no locations at all: the single cells need them, a well profile does not
    np.savez(root / "P" / "A01_1.npz", features=np.arange(6.0).reshape(3, 2))
    with pytest.raises(SourceError, match="has no 'locations' array"):
        scan_deepprofiler(frame, root).collect()
    out = tmp_path / "wells.csv"
    command = [
        sys.executable,
        "-m",
        "cytoplan.cli",
        "deepprofiler",
        str(index),
        str(root),
        str(out),
        "--level",
        "well",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    wells = pl.read_csv(out)
    assert wells["Metadata_Object_Count"].to_list() == [3]
    assert wells["DP_0"].to_list() == [2.0] and wells["DP_1"].to_list() == [3.0]
