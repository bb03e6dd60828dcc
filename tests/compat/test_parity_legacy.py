"""Legacy classes and the DeepProfiler/AnnData/cell-location/collate helpers vs pycytominer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pycytominer.cyto_utils as theirs
import pytest
from pycytominer.cyto_utils import DeepProfiler_processing as theirs_dp
from pycytominer.cyto_utils.cells import SingleCells as TheirCells

from cytoplan.compat import pycytominer as compat
from cytoplan.compat.pycytominer import cyto_utils as ours
from cytoplan.compat.pycytominer.cyto_utils import DeepProfiler_processing as ours_dp
from cytoplan.compat.pycytominer.cyto_utils.cells import SingleCells as OurCells
from cytoplan.testing.deepprofiler import write_deepprofiler_project

from .conftest import assert_same

ROOT = Path(__file__).resolve().parents[2] / "data_fixtures"
PLATE = ROOT / "cpg0000-synthetic/workspace/backend/2024_01_01_Batch1/BR00000001/BR00000001.sqlite"
URL = f"sqlite:///{PLATE}"


# ------------------------------------------------------------------ SingleCells


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"aggregation_operation": "mean"},
        {"strata": ["Metadata_Plate", "Metadata_Well", "Metadata_Site"]},
        {"add_image_features": True, "image_feature_categories": ["Count", "Granularity"]},
        {
            "aggregation_operation": "mean",
            "add_image_features": True,
            "image_feature_categories": ["Granularity", "ImageQuality", "Threshold"],
        },
    ],
    ids=str,
)
def test_single_cells_aggregate_matches(kwargs):
    ours_sc = OurCells(URL, **kwargs)
    theirs_sc = TheirCells(URL, **kwargs)
    assert_same(ours_sc.aggregate_profiles(), theirs_sc.aggregate_profiles())
    assert_same(ours_sc.count_cells(), theirs_sc.count_cells())


def test_single_cells_merge_matches():
    assert_same(OurCells(URL).merge_single_cells(), TheirCells(URL).merge_single_cells())


def test_single_cells_merge_normalize_and_output(tmp_path):
    args = {"method": "mad_robustize"}
    ours_df = OurCells(URL).merge_single_cells(single_cell_normalize=True, normalize_args=args)
    theirs_df = TheirCells(URL).merge_single_cells(single_cell_normalize=True, normalize_args=args)
    assert_same(ours_df, theirs_df, rtol=1e-7)
    path = tmp_path / "sc.parquet"
    assert OurCells(URL).merge_single_cells(sc_output_file=str(path), output_type="parquet") == str(
        path
    )
    assert pd.read_parquet(path).shape == theirs_df.shape


def test_single_cells_subsample_is_per_stratum():
    sc = OurCells(URL, subsample_n=2, subsampling_random_state=7)
    sc.get_subsample()
    counts = sc.subset_data_df.groupby(["Metadata_Plate", "Metadata_Well"]).size()
    assert (counts == 2).all()
    assert len(counts) == sc.image_df.groupby(["Metadata_Plate", "Metadata_Well"]).ngroups


def test_single_cells_errors():
    for cls in (OurCells, TheirCells):
        with pytest.raises(ValueError):
            cls(URL, aggregation_operation="max")
        with pytest.raises(ValueError):
            cls(URL, subsample_frac=0.5, subsample_n=3)
        with pytest.raises(ValueError):
            cls(URL, fields_of_view=[99])


# ------------------------------------------------------------------ DeepProfiler


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return write_deepprofiler_project(tmp_path_factory.mktemp("dp"), n_features=5)


def test_npz_loaders_match(project):
    path = str(project.profile_dir / "P1" / "A02_2.npz")
    for metadata in (True, False):
        pd.testing.assert_frame_equal(
            ours.load_npz_features(path, metadata=metadata),
            theirs.load_npz_features(path, metadata=metadata),
        )
    pd.testing.assert_frame_equal(ours.load_npz_locations(path), theirs.load_npz_locations(path))
    pd.testing.assert_frame_equal(
        ours.load_npz_locations(path, 1, 0), theirs.load_npz_locations(path, 1, 0)
    )
    assert ours.load_npz_features("missing.npz").empty
    for module in (ours, theirs):
        with pytest.raises(IndexError):
            module.load_npz_locations(path, location_x_col_index=5)


@pytest.mark.parametrize("level", ["site", "well", "plate"])
@pytest.mark.parametrize("operation", ["median", "mean"])
def test_aggregate_deep_profiler_matches(project, level, operation):
    results = []
    for module in (ours_dp, theirs_dp):
        data = module.DeepProfilerData(str(project.index_file), str(project.profile_dir))
        results.append(
            module.AggregateDeepProfiler(
                data, aggregate_operation=operation, aggregate_on=level
            ).aggregate_deep()
        )
    ours_df, theirs_df = results
    expected_rows = {"site": 12, "well": 6, "plate": 2}[level]
    assert len(ours_df) == expected_rows
    assert_same(ours_df, theirs_df, rtol=1e-6)  # features are float32 in the files


def test_single_cell_deep_profiler_matches(project, tmp_path):
    frames = []
    for module in (ours_dp, theirs_dp):
        data = module.DeepProfilerData(str(project.index_file), str(project.profile_dir))
        sc = module.SingleCellDeepProfiler(data)
        frames.append((sc.get_single_cells(), sc.normalize_deep_single_cells()))
    assert_same(frames[0][0], frames[1][0])
    # float32 features: sklearn scales in float32, cytoplan in float64 then casts
    assert_same(frames[0][1], frames[1][1], rtol=1e-6, atol=1e-6)
    out = tmp_path / "norm.csv"
    data = ours_dp.DeepProfilerData(str(project.index_file), str(project.profile_dir))
    assert ours_dp.SingleCellDeepProfiler(data).normalize_deep_single_cells(output_file=str(out))
    assert pd.read_csv(out).shape == frames[1][1].shape


def test_deep_profiler_errors(project):
    data = ours_dp.DeepProfilerData(str(project.index_file), str(project.profile_dir))
    with pytest.raises(ValueError, match="median or mean"):
        ours_dp.AggregateDeepProfiler(data, aggregate_operation="max")
    with pytest.raises(ValueError, match="site or well or plate"):
        ours_dp.AggregateDeepProfiler(data, aggregate_on="image")
    assert data.extract_filename_metadata("out/P1/A01_2.npz") == {
        "site": "2",
        "well": "A01",
        "plate": "P1",
    }
    assert data.extract_filename_metadata("out/P1/A01/2.npz", "/") == {
        "site": "2",
        "well": "A01",
        "plate": "P1",
    }


# ------------------------------------------------------------------ AnnData


@pytest.mark.parametrize("kind", ["anndata_h5ad", "anndata_zarr"])
def test_anndata_round_trip(tmp_path, wells, kind):
    pytest.importorskip("anndata")
    suffix = ".h5ad" if kind == "anndata_h5ad" else ".zarr"
    path = tmp_path / f"wells{suffix}"
    wells_df = compat.normalize(wells)
    assert compat.normalize(wells, output_file=str(path), output_type=kind) == str(path)
    assert ours.anndata_utils.is_anndata(str(path)) == suffix[1:]
    assert theirs.anndata_utils.is_anndata(str(path)) == suffix[1:]
    back = ours.load_profiles(path)
    # obs columns are stored in sorted order, then X (pycytominer's layout)
    meta = sorted(c for c in wells_df.columns if c.startswith("Metadata_"))
    features = [c for c in wells_df.columns if not c.startswith("Metadata_")]
    assert list(back.columns) == meta + features
    np.testing.assert_allclose(back[features].to_numpy(), wells_df[features].to_numpy())
    assert back["Metadata_Well"].astype(str).tolist() == wells_df["Metadata_Well"].tolist()
    pd.testing.assert_frame_equal(back, theirs.load_profiles(path))
    assert_same(compat.normalize(path), pycytominer_normalize(path))


def pycytominer_normalize(path):
    import pycytominer

    return pycytominer.normalize(path)


# ------------------------------------------------------------------ CellLocation


def test_cell_location_matches(tmp_path):
    import sqlite3

    pytest.importorskip("boto3")
    from pycytominer.cyto_utils.cell_locations import CellLocation as TheirLocation

    with sqlite3.connect(PLATE) as con:
        image = pd.read_sql_query(
            "SELECT Metadata_Plate, Metadata_Well, Metadata_Site FROM Image", con
        )
    meta = image.astype(str).iloc[::-1].reset_index(drop=True)
    meta.loc[len(meta)] = ["BR00000001", "Z99", "1"]  # an image without cells
    meta_file = tmp_path / "load_data.csv"
    meta.to_csv(meta_file, index=False)
    for metadata in (meta, str(meta_file)):
        a = ours.CellLocation(metadata, str(PLATE)).add_cell_location()
        b = TheirLocation(metadata, str(PLATE)).add_cell_location()
        assert list(a.columns) == list(b.columns)
        assert (
            a.drop(columns="CellCenters")
            .astype(str)
            .equals(b.drop(columns="CellCenters").astype(str))
        )
        for x, y in zip(a["CellCenters"], b["CellCenters"], strict=True):
            if isinstance(y, float):
                assert x is None or (isinstance(x, float) and np.isnan(x))
            else:
                assert list(x) == list(y)
    out = tmp_path / "augmented.parquet"
    assert ours.CellLocation(meta, str(PLATE), str(out)).add_cell_location() == str(out)
    stamp = out.stat().st_mtime_ns
    assert ours.CellLocation(meta, str(PLATE), str(out)).add_cell_location() == str(out)
    assert out.stat().st_mtime_ns == stamp  # not overwritten
    for cls in (ours.CellLocation, TheirLocation):
        with pytest.raises(ValueError):
            cls(str(tmp_path / "meta.txt"), str(PLATE)).add_cell_location()
        with pytest.raises(ValueError):
            cls(meta.drop(columns="Metadata_Site"), str(PLATE)).add_cell_location()


# ------------------------------------------------------------------ collate


def test_collate_matches_cytominer_database_layout(tmp_path):
    """collate ingests CSV folders (no external tools) and aggregates like SingleCells."""
    batch, plate = "2024_01_01_Batch1", "BR00000001"
    src = ROOT / "cpg0000-synthetic/workspace/analysis" / batch / plate
    base = tmp_path / "workspace"
    shutil.copytree(src, base / "analysis" / batch / plate)
    categories = ["Granularity", "ImageQuality", "Threshold"]  # the fixture has no Texture
    scratch = tmp_path / "scratch"
    ours.collate(
        batch,
        "ingest_config.ini",
        plate,
        base_directory=str(base),
        tmp_dir=str(scratch),
        image_feature_categories=categories,
        printtoscreen=False,
    )
    assert not (scratch / "backend" / batch / plate / f"{plate}.sqlite").exists()  # moved
    backend = base / "backend" / batch / plate
    ingested = backend / f"{plate}.sqlite"
    assert ingested.exists()
    profiles = pd.read_csv(backend / f"{plate}.csv")
    reference = TheirCells(
        f"sqlite:///{ingested}",
        aggregation_operation="mean",
        add_image_features=True,
        image_feature_categories=categories,
    ).aggregate_profiles()
    assert_same(profiles, reference, rtol=1e-9)
    # the same single cells as the fixture's cytominer-database file (TableNumber aside)
    ours_sc = OurCells(f"sqlite:///{ingested}").merge_single_cells()
    theirs_sc = TheirCells(URL).merge_single_cells()
    keep = [c for c in theirs_sc.columns if c != "Metadata_TableNumber"]
    assert_same(ours_sc[keep], theirs_sc[keep])
    # an SQLite left in tmp_dir by an interrupted run: exit unless overwrite (pycytominer)
    leftover = scratch / "backend" / batch / plate / f"{plate}.sqlite"
    leftover.write_bytes(b"")
    with pytest.raises(SystemExit, match="already exists"):
        ours.collate(batch, "x", plate, base_directory=str(base), tmp_dir=str(scratch))
    assert leftover.exists()
    # the script entry point: aggregate again from the ingested SQLite
    from cytoplan.compat.pycytominer.cyto_utils.collate_cmd import main

    (backend / f"{plate}.csv").unlink()
    main(
        [
            batch,
            "x",
            plate,
            "--base",
            str(base),
            "--aggregate-only",
            "--dont-print",
            "--image-feature-categories",
            ",".join(categories),
        ]
    )
    assert_same(pd.read_csv(backend / f"{plate}.csv"), reference, rtol=1e-9)
    # overwrite replaces the leftover and ingests again; `column` copies an image column
    ours.collate(
        batch,
        "x",
        plate,
        base_directory=str(base),
        tmp_dir=str(scratch),
        overwrite=True,
        add_image_features=False,
        printtoscreen=False,
    )
    assert not leftover.exists()
    without_image = pd.read_csv(backend / f"{plate}.csv")
    assert_same(
        without_image,
        TheirCells(f"sqlite:///{ingested}", aggregation_operation="mean").aggregate_profiles(),
    )
    with pytest.raises(SystemExit, match="does not exist"):
        ours.collate(batch, "x", "NOPLATE", base_directory=str(base), aggregate_only=True)


def test_collate_column_copies_an_image_column(tmp_path):
    import sqlite3

    import polars as pl

    batch, plate = "2024_01_01_Batch1", "BR00000001"
    src = ROOT / "cpg0000-synthetic/workspace/analysis" / batch / plate
    base = tmp_path / "workspace"
    shutil.copytree(src, base / "analysis" / batch / plate)
    args = {
        "base_directory": str(base),
        "printtoscreen": False,
        "image_feature_categories": ["Granularity", "ImageQuality", "Threshold"],
    }
    with pytest.raises(sqlite3.OperationalError, match="duplicate column"):
        # the image table has Metadata_Plate already: pycytominer's ALTER TABLE fails too
        ours.collate(batch, "x", plate, tmp_dir=str(tmp_path / "a"), column="Metadata_Well", **args)
    for image in (base / "analysis" / batch / plate).rglob("Image.csv"):
        pl.read_csv(image, infer_schema_length=0).drop("Metadata_Plate").write_csv(image)
    ours.collate(batch, "x", plate, tmp_dir=str(tmp_path / "b"), column="Metadata_Well", **args)
    ingested = base / "backend" / batch / plate / f"{plate}.sqlite"
    with sqlite3.connect(ingested) as con:
        pairs = con.execute("SELECT Metadata_Plate, Metadata_Well FROM Image").fetchall()
    assert len(pairs) == 48 and all(a == b for a, b in pairs)
    profiles = pd.read_csv(base / "backend" / batch / plate / f"{plate}.csv")
    assert (profiles["Metadata_Plate"] == profiles["Metadata_Well"]).all()
