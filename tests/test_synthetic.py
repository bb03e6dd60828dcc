"""The seeded synthetic CellProfiler plate generator and the committed fixtures."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sqlite3
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from cytoplan.exceptions import CytoplanError
from cytoplan.testing.synthetic import (
    PlateSpec,
    feature_names,
    iter_images,
    merged_columns,
    negcon_wells,
    plate_layout,
    sqlite_columns,
    write_csv_folders,
    write_external_metadata,
    write_merged_parquet,
    write_platemap,
    write_sqlite,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "data_fixtures"
TINY = PlateSpec("BR1", wells=4, sites_per_well=2, cells_per_site=5, features_per_compartment=30)
COMPARTMENTS = ("Cells", "Cytoplasm", "Nuclei")


# ---------------------------------------------------------------- helpers


def _load_make_fixtures() -> Any:
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(path: Path, table: str, order: str = "rowid") -> tuple[list[str], list[tuple[Any, ...]]]:
    con = sqlite3.connect(path)
    try:
        cur = con.execute(f'SELECT * FROM "{table}" ORDER BY {order}')
        names = [d[0] for d in cur.description]
        return names, cur.fetchall()
    finally:
        con.close()


def _columns(path: Path, table: str) -> dict[str, list[Any]]:
    names, rows = _rows(path, table)
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def _as_float(values: list[Any]) -> np.ndarray:
    """Numbers as float64, with NULL and the TEXT 'nan' as NaN."""
    return np.array([np.nan if v is None or v == "nan" else float(v) for v in values])


def _tables(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    finally:
        con.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("tiny")
    return {
        "cdb": write_sqlite(TINY, out / "cdb.sqlite", "cytominer-database"),
        "etd": write_sqlite(TINY, out / "etd.sqlite", "exporttodatabase"),
        "csv": write_csv_folders(TINY, out / "csv")[0].parent,
        "parquet": write_merged_parquet(TINY, out / "sc.parquet"),
    }


@pytest.fixture(scope="module")
def wide_sample() -> dict[str, np.ndarray]:
    """Features of a plate big enough for distribution checks (4,800 cells per compartment)."""
    spec = PlateSpec("STATS", wells=24, sites_per_well=4, cells_per_site=50)
    images = list(iter_images(spec))
    return {c: np.concatenate([im.table(c).features for im in images]) for c in COMPARTMENTS}


# ---------------------------------------------------------------- spec, names, layout


def test_plate_spec_grid_and_counts() -> None:
    spec = PlateSpec("P1")
    assert spec.wells_list()[:7] == ["A01", "A02", "A03", "A04", "A05", "A06", "B01"]
    assert spec.wells_list()[-1] == "D06"
    assert PlateSpec("P", wells=96).wells_list()[-1] == "H12"
    assert PlateSpec("P", wells=384).wells_list()[-1] == "P24"
    assert spec.n_images == 48 and spec.n_cells == 384


@pytest.mark.parametrize(
    "kwargs",
    [
        {"wells": 0},
        {"wells": 2000},
        {"sites_per_well": 0},
        {"cells_per_site": -1},
        {"features_per_compartment": 0},
        {"seed": -1},
        {"compartments": ("Cells", "Mito")},
        {"compartments": ()},
        {"compartments": ("Cells", "Cells")},
        {"wells": True},
    ],
)
def test_plate_spec_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(CytoplanError, match="must"):
        PlateSpec("P1", **kwargs)


def test_plate_spec_rejects_bad_plate_name() -> None:
    with pytest.raises(CytoplanError, match="plate"):
        PlateSpec("BR-1")


def test_feature_names_realistic_unique_and_prefix_stable() -> None:
    for compartment in COMPARTMENTS:
        names = feature_names(compartment, 2000)
        assert len(set(names)) == 2000
        assert all(name.startswith(f"{compartment}_") for name in names)
        assert feature_names(compartment, 30) == names[:30]
    cells = set(feature_names("Cells", 2000))
    for expected in (
        "Cells_AreaShape_Area",
        "Cells_AreaShape_Eccentricity",
        "Cells_Granularity_1_AGP",
        "Cells_Correlation_Correlation_DNA_ER",
        "Cells_RadialDistribution_FracAtD_DNA_1of4",
        "Cells_Texture_Variance_RNA_3_01_256",
    ):
        assert expected in cells
    assert "Cytoplasm_Intensity_MeanIntensity_Mito" in feature_names("Cytoplasm", 30)
    with pytest.raises(CytoplanError):
        feature_names("Cells", -1)


def test_nuclei_names_include_pycytominer_blocklist() -> None:
    import pycytominer

    blocklist_file = Path(pycytominer.__file__).parent / "data" / "blocklist_features.txt"
    blocklist = set(blocklist_file.read_text().split()[1:])
    hits = blocklist & set(feature_names("Nuclei", 30))
    assert {"Nuclei_Correlation_Manders_AGP_DNA", "Nuclei_Granularity_14_AGP"} <= hits
    assert not blocklist & set(feature_names("Cells", 30))


def test_negcon_wells_spread_about_one_in_four() -> None:
    assert negcon_wells(24) == PlateSpec("P").negcon_wells()
    assert len(negcon_wells(24)) == 6
    assert len(negcon_wells(384)) == 96
    rows = Counter(well[0] for well in negcon_wells(384))
    assert len(rows) == 16 and set(rows.values()) == {6}
    layout = plate_layout(24)
    assert {w.broad_sample for w in layout if w.control_type == "negcon"} == {"DMSO"}
    assert sum(w.control_type == "poscon" for w in layout) >= 2


def test_every_compound_is_replicated() -> None:
    for wells in (7, 24, 96, 384):
        counts = Counter(w.broad_sample for w in plate_layout(wells) if w.control_type != "negcon")
        assert min(counts.values()) >= 2, wells


# ---------------------------------------------------------------- determinism


def test_writers_are_byte_deterministic(tmp_path: Path, tiny_files: dict[str, Path]) -> None:
    assert _sha(write_sqlite(TINY, tmp_path / "a.sqlite")) == _sha(tiny_files["cdb"])
    etd = write_sqlite(TINY, tmp_path / "b.sqlite", "exporttodatabase")
    assert _sha(etd) == _sha(tiny_files["etd"])
    assert _sha(write_merged_parquet(TINY, tmp_path / "c.parquet")) == _sha(tiny_files["parquet"])
    assert not list(tmp_path.glob(".*.tmp"))


def test_images_are_seeded_individually() -> None:
    spec = PlateSpec("P1", wells=6, sites_per_well=3)
    all_images = list(iter_images(spec))
    middle = list(iter_images(spec, 7, 10))
    assert [im.index for im in middle] == [7, 8, 9]
    for a, b in zip(all_images[7:10], middle, strict=True):
        for ta, tb in zip(a.objects, b.objects, strict=True):
            np.testing.assert_array_equal(ta.features, tb.features)
    other_seed = PlateSpec("P1", wells=6, sites_per_well=3, seed=1).image(8)
    assert not np.array_equal(other_seed.objects[0].features, all_images[8].objects[0].features)


def test_compartment_order_does_not_change_values() -> None:
    a = PlateSpec("P1").image(3)
    b = PlateSpec("P1", compartments=("Nuclei", "Cytoplasm", "Cells")).image(3)
    for compartment in COMPARTMENTS:
        np.testing.assert_array_equal(a.table(compartment).features, b.table(compartment).features)


# ---------------------------------------------------------------- SQLite layouts


def test_cytominer_database_schema(tiny_files: dict[str, Path]) -> None:
    path = tiny_files["cdb"]
    assert _tables(path) == ["Image", "Cells", "Cytoplasm", "Nuclei"]
    con = sqlite3.connect(path)
    info = {
        t: [(r[1], r[2]) for r in con.execute(f"PRAGMA table_info({t})")] for t in _tables(path)
    }
    indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    con.close()
    assert info == sqlite_columns(TINY, "cytominer-database")
    image = [name for name, _ in info["Image"]]
    assert image[:8] == [
        "TableNumber",
        "ImageNumber",
        "Metadata_Plate",
        "Metadata_Well",
        "Metadata_Site",
        "Image_Count_Cells",
        "Image_Count_Cytoplasm",
        "Image_Count_Nuclei",
    ]
    assert "Image_FileName_OrigMito" in image and "Image_Granularity_1_DNA" in image
    cells = dict(info["Cells"])
    assert [name for name, _ in info["Cells"][:3]] == ["TableNumber", "ImageNumber", "ObjectNumber"]
    assert cells["TableNumber"] == "TEXT" and cells["Cells_Parent_Nuclei"] == "INTEGER"
    assert cells["Cells_AreaShape_Area"] == "REAL" and cells["Cells_Location_Center_X"] == "REAL"
    for name in ("Cells_Children_Cytoplasm_Count", "Cells_Number_Object_Number"):
        assert cells[name] == "INTEGER"
    assert {"Nuclei_Children_Cells_Count", "Nuclei_Location_Center_Y"} <= set(dict(info["Nuclei"]))
    assert indexes == {
        "table_image_idx",
        "plate_well_image_idx",
        "table_image_object_cells_idx",
        "table_image_object_cytoplasm_idx",
        "table_image_object_nuclei_idx",
    }


def test_cytominer_database_keys(tiny_files: dict[str, Path]) -> None:
    image = _columns(tiny_files["cdb"], "Image")
    assert set(image["ImageNumber"]) == {1}
    assert len(set(image["TableNumber"])) == TINY.n_images
    assert all(len(t) == 32 and int(t, 16) >= 0 for t in image["TableNumber"])
    assert set(image["Metadata_Site"]) == {"1", "2"}
    cells = _columns(tiny_files["cdb"], "Cells")
    assert set(cells["ImageNumber"]) == {1}
    assert set(cells["TableNumber"]) == set(image["TableNumber"])


def test_exporttodatabase_schema_and_keys(tiny_files: dict[str, Path]) -> None:
    path = tiny_files["etd"]
    assert _tables(path) == ["Per_Image", "Per_Cells", "Per_Cytoplasm", "Per_Nuclei"]
    image = _columns(path, "Per_Image")
    assert list(image)[:4] == [
        "ImageNumber",
        "Image_Metadata_Plate",
        "Image_Metadata_Well",
        "Image_Metadata_Site",
    ]
    assert all(name == "ImageNumber" or name.startswith("Image_") for name in image)
    assert image["ImageNumber"] == list(range(1, TINY.n_images + 1))
    cyto = _columns(path, "Per_Cytoplasm")
    assert list(cyto)[:2] == ["ImageNumber", "ObjectNumber"]
    assert "TableNumber" not in cyto


def test_row_counts_and_object_order(tiny_files: dict[str, Path]) -> None:
    for key, prefix in (("cdb", ""), ("etd", "Per_")):
        image = _columns(tiny_files[key], f"{prefix}Image")
        assert len(image["Image_Count_Cells"]) == TINY.n_images
        assert set(image["Image_Count_Cells"]) == {TINY.cells_per_site}
        for compartment in COMPARTMENTS:
            objects = _columns(tiny_files[key], f"{prefix}{compartment}")
            assert len(objects["ObjectNumber"]) == TINY.n_cells
            per_image = list(range(1, TINY.cells_per_site + 1)) * TINY.n_images
            assert objects["ObjectNumber"] == per_image


def test_same_values_in_both_sqlite_layouts(tiny_files: dict[str, Path]) -> None:
    cdb_image, etd_image = (
        _columns(tiny_files["cdb"], "Image"),
        _columns(tiny_files["etd"], "Per_Image"),
    )
    for name, values in cdb_image.items():
        if name not in ("TableNumber", "ImageNumber"):
            other = name if name.startswith("Image_") else f"Image_{name}"
            assert etd_image[other] == values, name
    for compartment in COMPARTMENTS:
        a = _columns(tiny_files["cdb"], compartment)
        b = _columns(tiny_files["etd"], f"Per_{compartment}")
        assert [k for k in a if k not in ("TableNumber", "ImageNumber")] == [
            k for k in b if k != "ImageNumber"
        ]
        for name in b:
            if name != "ImageNumber":
                assert a[name] == b[name], name


def test_csv_folders_match_sqlite(tiny_files: dict[str, Path]) -> None:
    root = tiny_files["csv"]
    image = _columns(tiny_files["cdb"], "Image")
    folders = [
        root / f"{p}-{w}-{s}"
        for p, w, s in zip(
            image["Metadata_Plate"], image["Metadata_Well"], image["Metadata_Site"], strict=True
        )
    ]
    assert sorted(f.name for f in root.iterdir()) == sorted(f.name for f in folders)
    image_csv = pl.concat([pl.read_csv(f / "Image.csv") for f in folders])
    assert image_csv.columns[:5] == [
        "ImageNumber",
        "Metadata_Plate",
        "Metadata_Well",
        "Metadata_Site",
        "Count_Cells",
    ]
    assert image_csv["ImageNumber"].to_list() == [1] * TINY.n_images
    for name in image_csv.columns[1:]:
        sql_name = name if name.startswith("Metadata_") else f"Image_{name}"
        expected = [str(v) if name == "Metadata_Site" else v for v in image[sql_name]]
        got = [str(v) if name == "Metadata_Site" else v for v in image_csv[name].to_list()]
        assert got == expected, name
    for compartment in COMPARTMENTS:
        sql = _columns(tiny_files["cdb"], compartment)
        frames = [pl.read_csv(f / f"{compartment}.csv", infer_schema_length=None) for f in folders]
        csv = pl.concat(frames, how="vertical_relaxed")
        assert csv.columns[:2] == ["ImageNumber", "ObjectNumber"]
        assert [f"{compartment}_{c}" for c in csv.columns[2:]] == list(sql)[3:]
        for name in csv.columns[1:]:
            sql_name = name if name == "ObjectNumber" else f"{compartment}_{name}"
            np.testing.assert_array_equal(
                csv[name].cast(pl.Float64).to_numpy(), _as_float(sql[sql_name]), err_msg=name
            )


def test_text_nan_cells_only_in_sqlite(tiny_files: dict[str, Path]) -> None:
    for path, table in ((tiny_files["cdb"], "Cells"), (tiny_files["etd"], "Per_Cells")):
        con = sqlite3.connect(path)
        columns = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
        text = {
            c: con.execute(f"SELECT count(*) FROM {table} WHERE typeof({c})='text'").fetchone()[0]
            for c in columns
            if c.startswith("Cells_")
        }
        con.close()
        hits = {c: n for c, n in text.items() if n}
        assert list(hits) == ["Cells_Intensity_MeanIntensity_DNA"]
        assert 0 < hits["Cells_Intensity_MeanIntensity_DNA"] <= TINY.n_images
    folder = tiny_files["csv"] / "BR1-A03-2"  # image index 5 holds one
    line = (folder / "Cells.csv").read_text().splitlines()[1].split(",")
    header = (folder / "Cells.csv").read_text().splitlines()[0].split(",")
    assert line[header.index("Intensity_MeanIntensity_DNA")] == ""


def test_linking_columns_are_consistent(tiny_files: dict[str, Path]) -> None:
    def keyed(table: str) -> dict[tuple[str, int], dict[str, Any]]:
        cols = _columns(tiny_files["cdb"], table)
        n = len(cols["ObjectNumber"])
        return {
            (cols["TableNumber"][i], cols["ObjectNumber"][i]): {k: v[i] for k, v in cols.items()}
            for i in range(n)
        }

    cells, nuclei = keyed("Cells"), keyed("Nuclei")
    cytoplasm = list(keyed("Cytoplasm").values())
    assert len(cytoplasm) == len(cells) == len(nuclei)
    trivially_aligned = 0
    for row in cytoplasm:
        cell = cells[(row["TableNumber"], row["Cytoplasm_Parent_Cells"])]
        nucleus = nuclei[(row["TableNumber"], row["Cytoplasm_Parent_Nuclei"])]
        assert cell["Cells_Parent_Nuclei"] == row["Cytoplasm_Parent_Nuclei"]
        assert cell["Cells_Children_Cytoplasm_Count"] == 1
        assert nucleus["Nuclei_Children_Cells_Count"] == 1
        dx = cell["Cells_Location_Center_X"] - nucleus["Nuclei_Location_Center_X"]
        dy = cell["Cells_Location_Center_Y"] - nucleus["Nuclei_Location_Center_Y"]
        assert np.hypot(dx, dy) < 15.0
        trivially_aligned += row["Cytoplasm_Parent_Cells"] == row["ObjectNumber"]
        assert row["Cytoplasm_Number_Object_Number"] == row["ObjectNumber"]
    assert trivially_aligned < len(cytoplasm) / 2
    # each image's parents are a permutation of 1..m
    per_image = Counter((r["TableNumber"], r["Cytoplasm_Parent_Cells"]) for r in cytoplasm)
    assert set(per_image.values()) == {1}


# ---------------------------------------------------------------- distributions


def test_null_fractions(wide_sample: dict[str, np.ndarray]) -> None:
    for compartment, x in wide_sample.items():
        frac = np.isnan(x).mean(axis=0)
        assert 0.07 < frac[13] < 0.13, compartment
        assert all(0.005 < frac[j] < 0.04 for j in (3, 23)), compartment
        assert all(0.001 < frac[j] < 0.025 for j in (9, 19, 29)), compartment
        clean = [
            j for j in range(30) if j % 10 not in (3, 9) and not (compartment == "Cells" and j == 1)
        ]
        assert frac[clean].max() == 0.0, compartment
    assert 0 < np.isnan(wide_sample["Cells"][:, 1]).mean() < 0.02  # the TEXT 'nan' cells


def test_correlated_columns(wide_sample: dict[str, np.ndarray]) -> None:
    for x in wide_sample.values():
        for dst in range(30):
            if dst % 10 in (5, 8):
                src = dst - 5 if dst % 10 == 5 else dst - 2
                r = np.corrcoef(x[:, src], x[:, dst])[0, 1]
                assert (r > 0.9) if dst % 10 == 5 else (r < -0.9), (dst, r)


def test_column_kinds(wide_sample: dict[str, np.ndarray]) -> None:
    x = wide_sample["Cytoplasm"]
    for j in (7, 17, 27):  # near-constant
        top = Counter(x[:, j].tolist()).most_common(1)[0][1] / x.shape[0]
        assert 0.97 < top < 1.0
    for j in (4, 14, 24):  # Poisson counts
        assert np.all(x[:, j] == np.round(x[:, j])) and x[:, j].min() >= 0
    for j in (2, 12, 22):  # lognormal: positive, right-skewed
        col = x[:, j]
        assert col.min() > 0 and np.mean(col) > np.median(col)


def test_treatment_shifts_separate_wells() -> None:
    spec = PlateSpec("SHIFT", wells=24, sites_per_well=2, cells_per_site=40)
    layout = {w.well: w for w in plate_layout(24)}
    means: dict[str, list[np.ndarray]] = {}
    for image in iter_images(spec):
        x = image.table("Cells").features[:, [0, 6, 10, 16, 20, 26]]
        means.setdefault(layout[image.well].control_type, []).append(np.nanmean(x, axis=0))
    sd = np.std(np.vstack(means["negcon"]), axis=0)
    neg = np.mean(means["negcon"], axis=0)
    pos_shift = np.abs(np.mean(means["poscon"], axis=0) - neg) / sd
    assert pos_shift.mean() > 3.0


# ---------------------------------------------------------------- merged Parquet


def test_merged_parquet_matches_pycytominer(tiny_files: dict[str, Path]) -> None:
    from pycytominer.cyto_utils.cells import SingleCells

    ours = pl.read_parquet(tiny_files["parquet"])
    assert ours.columns == merged_columns(TINY)
    assert ours.height == TINY.n_cells
    meta = [c for c in ours.columns if c.startswith("Metadata_")]
    assert all(ours.schema[c] == pl.String for c in meta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = SingleCells(f"sqlite:///{tiny_files['cdb']}").merge_single_cells()
    assert list(theirs.columns) == ours.columns
    for name in ours.columns:
        if name in meta:
            expected = [str(v).removesuffix(".0") for v in theirs[name]]
            assert ours[name].to_list() == expected, name
        else:
            np.testing.assert_array_equal(
                ours[name].cast(pl.Float64).to_numpy(), theirs[name].astype(float).to_numpy()
            )


def test_merged_parquet_needs_all_compartments(tmp_path: Path) -> None:
    spec = PlateSpec("P1", compartments=("Cells", "Nuclei"))
    with pytest.raises(CytoplanError, match="Cytoplasm"):
        write_merged_parquet(spec, tmp_path / "x.parquet")
    path = write_sqlite(spec, tmp_path / "two.sqlite")
    assert _tables(path) == ["Image", "Cells", "Nuclei"]
    cells = _columns(path, "Cells")
    assert "Cells_Parent_Nuclei" in cells and "Cells_Children_Cytoplasm_Count" not in cells


# ---------------------------------------------------------------- errors


def test_writer_errors(tmp_path: Path) -> None:
    with pytest.raises(CytoplanError, match="layout"):
        write_sqlite(TINY, tmp_path / "x.sqlite", "cellprofiler")  # type: ignore[arg-type]
    too_wide = PlateSpec(
        "W", wells=1, sites_per_well=1, cells_per_site=1, features_per_compartment=1995
    )
    with pytest.raises(CytoplanError, match="2000"):
        write_sqlite(too_wide, tmp_path / "w.sqlite")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- metadata files


def test_platemap_files(tmp_path: Path) -> None:
    specs = [PlateSpec("BR1"), PlateSpec("BR2")]
    barcode, platemap = write_platemap(specs, tmp_path, batch="B1")
    assert barcode == tmp_path / "B1" / "barcode_platemap.csv"
    assert (
        barcode.read_text()
        == "Assay_Plate_Barcode,Plate_Map_Name\nBR1,platemap_1\nBR2,platemap_1\n"
    )
    frame = pl.read_csv(platemap, separator="\t", infer_schema_length=0)
    assert frame.columns == [
        "plate_map_name",
        "well_position",
        "broad_sample",
        "mg_per_ml",
        "mmoles_per_liter",
        "solvent",
        "control_type",
        "pert_iname",
    ]
    assert frame["well_position"].to_list() == specs[0].wells_list()
    negcon = frame.filter(pl.col("control_type") == "negcon")
    assert negcon["well_position"].to_list() == specs[0].negcon_wells()
    assert set(negcon["broad_sample"]) == {"DMSO"}
    compounds = frame.filter(pl.col("broad_sample").str.starts_with("BRD-K"))
    assert compounds.group_by("broad_sample").len()["len"].min() >= 2
    external = write_external_metadata(tmp_path / "em.tsv", wells=24)
    em = pl.read_csv(external, separator="\t")
    assert em.columns == ["broad_sample", "pert_iname", "moa", "target"]
    assert set(compounds["broad_sample"]) == set(em["broad_sample"])
    with pytest.raises(CytoplanError, match="same number of wells"):
        write_platemap([PlateSpec("A"), PlateSpec("B", wells=96)], tmp_path)


# ---------------------------------------------------------------- committed fixtures


def test_fixtures_match_a_fresh_regeneration(tmp_path: Path) -> None:
    make = _load_make_fixtures()
    fresh = make.make_fixtures(tmp_path)
    assert fresh
    committed = sorted(
        p.relative_to(FIXTURES)
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.suffix != ".py" and p.relative_to(FIXTURES).parts[0] != "recipes"
    )  # data_fixtures/recipes/ holds hand-written recipes over the generated tree
    regenerated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert [p for p in committed if p.name != "README.md"] == regenerated
    for rel in regenerated:
        if rel.suffix == ".sqlite":
            for table in _tables(tmp_path / rel):
                assert _rows(FIXTURES / rel, table) == _rows(tmp_path / rel, table), (rel, table)
        else:
            assert (FIXTURES / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert total < 5_000_000


def test_fixture_layout() -> None:
    ws = FIXTURES / "cpg0000-synthetic" / "workspace"
    for plate in ("BR00000001", "BR00000002"):
        path = ws / "backend" / "2024_01_01_Batch1" / plate / f"{plate}.sqlite"
        assert _tables(path) == ["Image", "Cells", "Cytoplasm", "Nuclei"]
        assert set(_columns(path, "Image")["Metadata_Plate"]) == {plate}
    site = ws / "analysis" / "2024_01_01_Batch1" / "BR00000001" / "analysis" / "BR00000001-A01-1"
    assert sorted(p.name for p in site.iterdir()) == [
        "Cells.csv",
        "Cytoplasm.csv",
        "Image.csv",
        "Nuclei.csv",
    ]
    assert _tables(FIXTURES / "exporttodatabase" / "BR00000003.sqlite")[0] == "Per_Image"
    platemaps = ws / "metadata" / "platemaps" / "2024_01_01_Batch1"
    assert (platemaps / "platemap" / "platemap_1.txt").is_file()
    assert (platemaps / "barcode_platemap.csv").read_text().count("platemap_1") == 2
    assert (ws / "metadata" / "external_metadata" / "external_metadata.tsv").is_file()


# ---------------------------------------------------------------- CLI


def test_cli_tiny_plate(tmp_path: Path) -> None:
    sqlite_path, parquet = tmp_path / "t.sqlite", tmp_path / "t.parquet"
    args = [
        sys.executable, "-m", "cytoplan.testing.synthetic",
        "--plate", "T1", "--wells", "2", "--sites-per-well", "1", "--cells-per-site", "3",
        "--features-per-compartment", "5", "--seed", "3",
        "--sqlite", str(sqlite_path), "--layout", "exporttodatabase",
        "--csv-dir", str(tmp_path / "csv"), "--parquet", str(parquet),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"}
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("wrote ") == 3
    assert _tables(sqlite_path) == ["Per_Image", "Per_Cells", "Per_Cytoplasm", "Per_Nuclei"]
    assert len(_columns(sqlite_path, "Per_Nuclei")["ObjectNumber"]) == 6
    assert pl.read_parquet(parquet).height == 6
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == ["T1-A01-1", "T1-A02-1"]
    spec = PlateSpec(
        "T1", wells=2, sites_per_well=1, cells_per_site=3, features_per_compartment=5, seed=3
    )
    expected = write_sqlite(spec, tmp_path / "again.sqlite", "exporttodatabase")
    assert _rows(expected, "Per_Cells") == _rows(sqlite_path, "Per_Cells")


def test_cli_errors(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "cytoplan.testing.synthetic", "--plate", "T1"]
    nothing = subprocess.run(base, capture_output=True, text=True, check=False)
    assert nothing.returncode == 2 and "nothing to write" in nothing.stderr
    bad = subprocess.run(
        [*base, "--wells", "0", "--sqlite", str(tmp_path / "x.sqlite")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "wells must be" in bad.stderr
