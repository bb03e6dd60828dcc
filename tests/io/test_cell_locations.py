"""Cell centres nested per image and joined onto a LoadData table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl
import pytest

from cytoplan.exceptions import ColumnNotFoundError, SourceError
from cytoplan.io.cell_locations import CELL_CENTERS, add_cell_locations, cell_locations

ROOT = Path(__file__).resolve().parents[2] / "data_fixtures"
PLATE = ROOT / "cpg0000-synthetic/workspace/backend/2024_01_01_Batch1/BR00000001/BR00000001.sqlite"


def test_centres_equal_the_nuclei_table():
    nested = cell_locations(PLATE)
    with sqlite3.connect(PLATE) as con:
        n_images = con.execute("SELECT COUNT(*) FROM Image").fetchone()[0]
        rows = con.execute(
            "SELECT i.Metadata_Well, i.Metadata_Site, n.ObjectNumber, n.Nuclei_Location_Center_X "
            "FROM Nuclei n JOIN Image i USING (TableNumber, ImageNumber)"
        ).fetchall()
    assert nested.height == n_images
    flat = nested.explode(CELL_CENTERS).unnest(CELL_CENTERS)
    assert flat.height == len(rows)
    got = sorted(
        flat.select(
            "Metadata_Well", "Metadata_Site", "ObjectNumber", "Nuclei_Location_Center_X"
        ).rows()
    )
    assert got == sorted((w, str(s), o, x) for w, s, o, x in rows)
    keys = nested.select("Metadata_Plate", "Metadata_Well", "Metadata_Site").rows()
    assert keys == sorted(keys)


def test_left_join_keeps_metadata_rows_and_order(tmp_path):
    meta = pl.DataFrame(
        {
            "Metadata_Plate": ["BR00000001", "BR00000001", "BR00000001"],
            "Metadata_Well": ["B02", "ZZZ", "A01"],
            "Metadata_Site": ["1", "1", "1"],
            "FileName_DNA": ["b.tif", "z.tif", "a.tif"],
        }
    )
    out = add_cell_locations(meta, PLATE)
    assert out["FileName_DNA"].to_list() == ["b.tif", "z.tif", "a.tif"]
    assert out[CELL_CENTERS][1] is None
    assert len(out[CELL_CENTERS][0]) > 0
    csv = tmp_path / "load_data.csv"
    meta.write_csv(csv)
    target = tmp_path / "out.parquet"
    assert add_cell_locations(csv, PLATE, output=target) == target
    assert pl.read_parquet(target).equals(out)
    before = target.stat().st_mtime_ns
    add_cell_locations(csv, PLATE, output=target)
    assert target.stat().st_mtime_ns == before


def test_errors(tmp_path):
    meta = pl.DataFrame({"Metadata_Plate": ["p"], "Metadata_Well": ["A01"]})
    with pytest.raises(ColumnNotFoundError):
        add_cell_locations(meta, PLATE)
    with pytest.raises(ColumnNotFoundError, match="Nuclei"):
        cell_locations(PLATE, cell_x_loc="Nuclei_nope")
    with pytest.raises(SourceError, match="CSV or a Parquet"):
        add_cell_locations(tmp_path / "meta.txt", PLATE)
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).execute("CREATE TABLE x (a INT)").connection.commit()
    with pytest.raises(SourceError, match="Image and Nuclei"):
        cell_locations(empty)
