"""Cell locations with the LoadData table and the plate SQLite on S3 (loopback server)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl
import pytest
from _s3_helpers import GALLERY

from cytoplan.io.cell_locations import add_cell_locations
from cytoplan.testing.s3 import LocalS3Server

BACKEND = (
    Path(__file__).resolve().parents[2]
    / "data_fixtures/cpg0000-synthetic/workspace/backend/2024_01_01_Batch1"
)
PLATE = BACKEND / "BR00000001/BR00000001.sqlite"


@pytest.fixture(autouse=True)
def _cache_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CYTOPLAN_TEMP_DIR", str(tmp_path))


def test_remote_inputs_equal_local(
    s3_server: LocalS3Server, prefix: str, anonymous: dict, tmp_path
):
    with sqlite3.connect(PLATE) as con:
        keys = con.execute(
            "SELECT Metadata_Plate, Metadata_Well, Metadata_Site FROM Image"
        ).fetchall()
    meta = pl.DataFrame(
        [[str(v) for v in row] for row in keys],
        schema=["Metadata_Plate", "Metadata_Well", "Metadata_Site"],
        orient="row",
    )
    local_csv = tmp_path / "load_data.csv"
    meta.write_csv(local_csv)
    s3_server.put(GALLERY, f"{prefix}/load_data.csv", local_csv.read_bytes(), public=True)
    s3_server.put(GALLERY, f"{prefix}/plate.sqlite", PLATE.read_bytes(), public=True)
    remote = add_cell_locations(
        f"s3://{GALLERY}/{prefix}/load_data.csv",
        f"s3://{GALLERY}/{prefix}/plate.sqlite",
        storage_options=anonymous,
    )
    local = add_cell_locations(local_csv, PLATE)
    assert remote.equals(local)
    assert remote["CellCenters"].list.len().sum() > 0
