"""``cytoplan deepprofiler``, ``collate`` and ``cell-locations`` as a user runs them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cytoplan.io.csv_folder import scan_cellprofiler_csv
from cytoplan.io.deepprofiler import read_npz
from cytoplan.testing.deepprofiler import write_deepprofiler_project

WORKSPACE = Path(__file__).resolve().parents[2] / "data_fixtures/cpg0000-synthetic/workspace"
SQLITE = WORKSPACE / "backend/2024_01_01_Batch1/BR00000001/BR00000001.sqlite"
CSV = WORKSPACE / "analysis/2024_01_01_Batch1/BR00000001/analysis"


def run(*args: str | Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cytoplan.cli", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == expect, done.stdout + done.stderr
    return done


def test_deepprofiler_levels(tmp_path):
    project = write_deepprofiler_project(tmp_path / "dp", n_features=3)
    cells = tmp_path / "cells.parquet"
    run("deepprofiler", project.index_file, project.profile_dir, cells, "--level", "single-cell")
    single = pl.read_parquet(cells)
    assert single.columns[-3:] == ["efficientnet_0", "efficientnet_1", "efficientnet_2"]
    wells = tmp_path / "wells.csv"
    run("deepprofiler", project.index_file, project.profile_dir, wells, "--method", "mean")
    table = pl.read_csv(wells, schema_overrides={"Metadata_Plate": pl.String})
    assert table.height == len(project.plates) * len(project.wells)
    row = table.filter((pl.col("Metadata_Plate") == "P1") & (pl.col("Metadata_Well") == "A02"))
    values = np.concatenate(
        [read_npz(project.profile_dir / "P1" / f"A02_{s}.npz")["features"] for s in project.sites]
    )
    assert row["Metadata_Object_Count"].item() == values.shape[0]
    assert row["efficientnet_2"].item() == pytest.approx(values[:, 2].astype(float).mean())
    done = run("deepprofiler", tmp_path / "nope.csv", project.profile_dir, wells, expect=1)
    assert "not found" in done.stderr


def test_collate(tmp_path):
    db, pq, agg = tmp_path / "p.sqlite", tmp_path / "p.parquet", tmp_path / "wells.csv"
    out = run("collate", CSV, "--sqlite", db, "--parquet", pq, "--aggregate", agg)
    assert "Cells:" in out.stdout
    expected = scan_cellprofiler_csv(CSV).collect()
    assert pl.read_parquet(pq).equals(expected)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM Nuclei").fetchone()[0] == expected.height
    wells = pl.read_csv(agg)
    assert wells.height == expected.select("Metadata_Well").n_unique()
    assert wells["Metadata_Object_Count"].sum() == expected.height
    run("collate", CSV, "--sqlite", db, expect=1)  # exists, no --overwrite
    run("collate", CSV, expect=1)
    # the flag used to be accepted silently: CSV folders give no Image_ columns to aggregate
    again = run("collate", CSV, "--aggregate", agg, "--image-features", "--overwrite")
    assert (
        "warning: --image-features: the merged single cells hold no Image_ columns" in again.stderr
    )
    assert pl.read_csv(agg).equals(wells)


def test_cell_locations(tmp_path):
    with sqlite3.connect(SQLITE) as con:
        keys = con.execute(
            "SELECT Metadata_Plate, Metadata_Well, Metadata_Site FROM Image"
        ).fetchall()
    meta = pl.DataFrame(
        [[str(v) for v in row] for row in keys],
        schema=["Metadata_Plate", "Metadata_Well", "Metadata_Site"],
        orient="row",
    ).with_columns(pl.lit("x.tif").alias("FileName_DNA"))
    meta_file = tmp_path / "load_data.csv"
    meta.write_csv(meta_file)
    out = tmp_path / "with_cells.parquet"
    run("cell-locations", meta_file, SQLITE, out)
    table = pl.read_parquet(out)
    assert table.height == meta.height
    with sqlite3.connect(SQLITE) as con:
        n = con.execute("SELECT COUNT(*) FROM Nuclei").fetchone()[0]
    assert table["CellCenters"].list.len().sum() == n
    done = run(
        "cell-locations", meta_file, tmp_path / "missing.sqlite", tmp_path / "o.parquet", expect=1
    )
    assert "not found" in done.stderr
    # a list column per image: only Parquet holds it (a .csv name used to get Parquet bytes)
    done = run("cell-locations", meta_file, SQLITE, tmp_path / "o.csv", expect=1)
    assert "must be named .parquet" in done.stderr
    assert not (tmp_path / "o.csv").exists()
