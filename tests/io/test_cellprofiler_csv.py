"""scan_cellprofiler_csv: CSV site folders give the same table as the plate's SQLite file."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import polars as pl
import pytest
from _cp_helpers import CSV_ROOT, CYTOMINER_DB
from polars.testing import assert_frame_equal

from cytoplan import LinkSpec, scan_cellprofiler_csv, scan_cellprofiler_sqlite
from cytoplan.exceptions import JoinError, SchemaError, SourceError
from cytoplan.testing.synthetic import PlateSpec, write_csv_folders, write_sqlite


def test_csv_folders_equal_the_sqlite_file() -> None:
    csv = scan_cellprofiler_csv(CSV_ROOT)
    sqlite = scan_cellprofiler_sqlite(CYTOMINER_DB)
    assert csv.collect_schema() == sqlite.collect_schema()
    assert_frame_equal(csv.collect(), sqlite.collect())


def test_table_number_is_the_md5_of_the_folder_name() -> None:
    out = scan_cellprofiler_csv(CSV_ROOT).select("Metadata_TableNumber", "Metadata_Well").collect()
    first = sorted(p.name for p in CSV_ROOT.iterdir())[0]
    assert out.row(0) == (hashlib.md5(first.encode()).hexdigest(), first.split("-")[1])


def test_projection_head_and_filter() -> None:
    lf = scan_cellprofiler_csv(CSV_ROOT)
    full = lf.collect()
    got = lf.select("Metadata_Well", "Nuclei_AreaShape_Area").head(3).collect()
    assert got.equals(full.select(got.columns).head(3))
    flt = lf.filter(pl.col("Metadata_Well") == "A02").select("Cells_AreaShape_Area").collect()
    assert flt.equals(full.filter(pl.col("Metadata_Well") == "A02").select("Cells_AreaShape_Area"))


def test_one_site_folder_and_image_prefix(tmp_path: Path) -> None:
    folder = next(p for p in sorted(CSV_ROOT.iterdir()))
    spec = LinkSpec(image_columns=("Metadata_Plate", "Metadata_Well", "Image_Count_Cells"))
    out = scan_cellprofiler_csv(folder, link=spec).collect()
    assert out.height == 8
    assert out["Image_Count_Cells"].to_list() == [8] * 8
    assert out.schema["Image_Count_Cells"] == pl.Int64


def test_generated_plate_csv_equals_sqlite(tmp_path: Path) -> None:
    spec = PlateSpec("P9", wells=3, sites_per_well=2, cells_per_site=5, features_per_compartment=12)
    write_csv_folders(spec, tmp_path / "csv")
    db = write_sqlite(spec, tmp_path / "P9.sqlite")
    assert_frame_equal(
        scan_cellprofiler_csv(tmp_path / "csv").collect(), scan_cellprofiler_sqlite(db).collect()
    )


def test_text_nan_and_inf_in_csv(tmp_path: Path) -> None:
    folder = tmp_path / "csv" / "P1-A01-1"
    shutil.copytree(next(p for p in sorted(CSV_ROOT.iterdir())), folder)
    cells = pl.read_csv(folder / "Cells.csv")
    cells = cells.with_columns(
        pl.Series("AreaShape_Area", ["nan", "inf", "-inf", "", "1.5", "NaN", "2", "3"])
    )
    cells.write_csv(folder / "Cells.csv")
    got = scan_cellprofiler_csv(tmp_path / "csv").select("Cells_AreaShape_Area").collect()
    values = sorted(got.to_series().to_list(), key=lambda v: (v is None, v if v is not None else 0))
    assert values == [float("-inf"), 1.5, 2.0, 3.0, float("inf"), None, None, None]


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="CSV folder not found"):
        scan_cellprofiler_csv(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no CellProfiler CSV folders"):
        scan_cellprofiler_csv(tmp_path / "empty")
    plate = tmp_path / "plate"
    shutil.copytree(next(p for p in sorted(CSV_ROOT.iterdir())), plate / "P1-A01-1")
    (plate / "P1-A01-1" / "Nuclei.csv").unlink()
    with pytest.raises(SourceError, match=r"Nuclei\.csv not found in .*P1-A01-1"):
        scan_cellprofiler_csv(plate)


def test_orphans_and_bad_values_name_the_folder(tmp_path: Path) -> None:
    plate = tmp_path / "plate"
    folder = plate / "P1-A01-1"
    shutil.copytree(next(p for p in sorted(CSV_ROOT.iterdir())), folder)
    cells = pl.read_csv(folder / "Cells.csv")
    cells.filter(pl.col("ObjectNumber") != 3).write_csv(folder / "Cells.csv")
    with pytest.raises(JoinError, match=r"P1-A01-1.*1 of 8 rows"):
        scan_cellprofiler_csv(plate).collect()
    assert scan_cellprofiler_csv(plate, link=LinkSpec(orphans="drop")).collect().height == 7
    cells.with_columns(pl.lit("oops").alias("AreaShape_Area")).write_csv(folder / "Cells.csv")
    with pytest.raises(SchemaError, match=r"Cells\.csv"):
        scan_cellprofiler_csv(plate).collect()


def test_remote_is_refused_clearly() -> None:
    with pytest.raises(SourceError, match="remote CSV folders are not supported"):
        scan_cellprofiler_csv("s3://bucket/plate/")


@pytest.mark.parametrize("position", [0, 1])
def test_a_site_without_objects_contributes_no_cells(tmp_path: Path, position: int) -> None:
    # CellProfiler writes header-only object files for a field with no cells; the plate's
    # SQLite file has that image without objects, which merge_single_cells drops too
    root = tmp_path / "csv"
    shutil.copytree(CSV_ROOT, root)
    empty = sorted(root.iterdir())[position]
    for table in ("Cells", "Cytoplasm", "Nuclei"):
        path = empty / f"{table}.csv"
        path.write_text(path.read_text().split("\n", 1)[0] + "\n")
    full = scan_cellprofiler_csv(CSV_ROOT).collect()
    got = scan_cellprofiler_csv(root).collect()
    expected = full.filter(
        pl.col("Metadata_TableNumber") != hashlib.md5(empty.name.encode()).hexdigest()
    )
    assert got.height == expected.height < full.height
    assert_frame_equal(got, expected)


def test_a_site_with_only_some_objects_missing_is_still_an_error(tmp_path: Path) -> None:
    root = tmp_path / "csv"
    shutil.copytree(CSV_ROOT, root)
    folder = sorted(root.iterdir())[1]
    path = folder / "Cytoplasm.csv"
    path.write_text(path.read_text().split("\n", 1)[0] + "\n")
    with pytest.raises(SourceError, match=r"table 'Cytoplasm' of .* is empty"):
        scan_cellprofiler_csv(root).collect()


def test_a_column_only_a_later_folder_has_is_an_error(tmp_path: Path) -> None:
    # the first folder fixes the plate's columns: the extra one used to be dropped silently
    root = tmp_path / "csv"
    shutil.copytree(CSV_ROOT, root)
    path = sorted(root.iterdir())[1] / "Cells.csv"
    lines = path.read_text().rstrip("\n").split("\n")
    path.write_text(
        "\n".join([lines[0] + ",Extra_X"] + [line + ",1.0" for line in lines[1:]]) + "\n"
    )
    with pytest.raises(SchemaError, match=r"has column\(s\) \['Cells_Extra_X'\] .* lacks"):
        scan_cellprofiler_csv(root).collect()
