"""In-process collate: CSV folders → cytominer-database SQLite and Parquet."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl
import pytest

from cytoplan.exceptions import SchemaError, SourceError
from cytoplan.io.collate import collate_csv_folders
from cytoplan.io.csv_folder import scan_cellprofiler_csv
from cytoplan.io.sqlite import scan_cellprofiler_sqlite

ROOT = Path(__file__).resolve().parents[2] / "data_fixtures/cpg0000-synthetic/workspace"
CSV = ROOT / "analysis/2024_01_01_Batch1/BR00000001/analysis"
FIXTURE = ROOT / "backend/2024_01_01_Batch1/BR00000001/BR00000001.sqlite"


def test_sqlite_and_parquet_equal_the_csv_scan(tmp_path):
    report = collate_csv_folders(CSV, sqlite=tmp_path / "p.sqlite", parquet=tmp_path / "p.parquet")
    expected = scan_cellprofiler_csv(CSV).collect()
    from_sqlite = scan_cellprofiler_sqlite(tmp_path / "p.sqlite").collect()
    assert from_sqlite.equals(expected)
    assert pl.read_parquet(tmp_path / "p.parquet").equals(expected)
    assert report.parquet_rows == expected.height
    with sqlite3.connect(tmp_path / "p.sqlite") as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        cells = con.execute("SELECT COUNT(*) FROM Cells").fetchone()[0]
    assert tables == {"Image", "Cells", "Cytoplasm", "Nuclei"}
    assert {"table_image_idx", "cells_idx", "plate_well_image_idx"} <= indexes
    assert report.tables["Cells"] == cells


def test_parquet_row_groups_are_sized_from_the_width(tmp_path, monkeypatch):
    """As every cytoplan Parquet output, not Polars' default (one huge row group)."""
    import pyarrow.parquet as pq

    from cytoplan.io import collate

    widths = []
    monkeypatch.setattr(collate, "sink_row_group_size", lambda n: widths.append(n) or 5)
    collate_csv_folders(CSV, parquet=tmp_path / "p.parquet")
    metadata = pq.ParquetFile(tmp_path / "p.parquet").metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert widths == [metadata.num_columns]
    assert sizes[:-1] == [5] * (len(sizes) - 1) and 0 < sizes[-1] <= 5 and len(sizes) > 1


def test_same_columns_as_cytominer_database(tmp_path):
    collate_csv_folders(CSV, sqlite=tmp_path / "p.sqlite")
    for table in ("Image", "Cells", "Cytoplasm", "Nuclei"):
        with sqlite3.connect(tmp_path / "p.sqlite") as ours, sqlite3.connect(FIXTURE) as theirs:
            a = [r[1] for r in ours.execute(f"PRAGMA table_info({table})")]
            b = [r[1] for r in theirs.execute(f"PRAGMA table_info({table})")]
        assert a == b, table


def test_errors_and_no_partial_output(tmp_path):
    with pytest.raises(SourceError, match="needs an output"):
        collate_csv_folders(CSV)
    target = tmp_path / "p.sqlite"
    collate_csv_folders(CSV, sqlite=target)
    with pytest.raises(SourceError, match="exists"):
        collate_csv_folders(CSV, sqlite=target)
    collate_csv_folders(CSV, sqlite=target, overwrite=True)
    broken = tmp_path / "broken"
    folders = sorted(p for p in CSV.iterdir() if p.is_dir())[:2]
    for folder in folders:
        (broken / folder.name).mkdir(parents=True)
        for f in folder.iterdir():
            (broken / folder.name / f.name).write_bytes(f.read_bytes())
    cells = broken / folders[1].name / "Cells.csv"
    frame = pl.read_csv(cells).drop(pl.read_csv(cells).columns[-1])
    frame.write_csv(cells)
    out = tmp_path / "broken.sqlite"
    with pytest.raises(SchemaError, match="columns differ"):
        collate_csv_folders(broken, sqlite=out)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_first_site_without_cells_keeps_the_column_types(tmp_path):
    # its header-only files typed every column TEXT, which broke pycytominer downstream
    import shutil

    root = tmp_path / "csv"
    shutil.copytree(CSV, root)
    first = sorted(p for p in root.iterdir() if p.is_dir())[0]
    for table in ("Cells", "Cytoplasm", "Nuclei"):
        path = first / f"{table}.csv"
        path.write_text(path.read_text().split("\n", 1)[0] + "\n")
    collate_csv_folders(root, sqlite=tmp_path / "p.sqlite")
    reference = tmp_path / "ref.sqlite"
    collate_csv_folders(CSV, sqlite=reference)
    declared = "SELECT name, type FROM pragma_table_info('Cells')"
    with sqlite3.connect(tmp_path / "p.sqlite") as con, sqlite3.connect(reference) as ref:
        assert con.execute(declared).fetchall() == ref.execute(declared).fetchall()
        assert ("ImageNumber", "INTEGER") in con.execute(declared).fetchall()
    cells = scan_cellprofiler_sqlite(tmp_path / "p.sqlite").collect()
    assert cells.height == scan_cellprofiler_csv(root).collect().height > 0
