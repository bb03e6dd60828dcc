"""The page decoder (io._sqlite_records) gives exactly what SQLite gives, or steps aside."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from _cp_helpers import CYTOMINER_DB, EXPORTTODATABASE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from cytoplan import scan_cellprofiler_sqlite
from cytoplan.exceptions import SchemaError
from cytoplan.io._sqlite_catalog import read_catalogue, read_only_uri
from cytoplan.io._sqlite_fetch import ColumnRead, TableReader
from cytoplan.io._sqlite_records import open_record_reader


def _both(path: Path, table: str, rowids: np.ndarray, columns: list[str] | None = None):
    """(decoder frame or None, SQL frame) for the same rows, in the order of ``rowids``."""
    info = read_catalogue(path)[table]
    columns = columns or [c for c in info.columns if c not in ("id",)]
    fast = open_record_reader(path, info)
    decoded = None if fast is None else fast.read(rowids, columns, columns, "__rid")
    sql = TableReader(read_only_uri(path), info, str(path))
    try:
        frame = sql.read(
            [ColumnRead(c, c, "float") for c in columns],
            rows=int(rowids.max()) + 1,
            where_sql="ORDER BY rowid",
            rid="__rid",
        )
    finally:
        sql.close()
    order = pl.DataFrame({"__rid": rowids})
    return decoded, order.join(frame, on="__rid", how="left", maintain_order="left")


def _table(path: Path, rows: list[tuple], *, page_size: int = 4096, columns: int | None = None):
    width = columns or len(rows[0])
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA page_size={page_size}")
    names = ", ".join(f"c{j} REAL" for j in range(width))
    con.execute(f"CREATE TABLE t ({names})")
    con.executemany(f"INSERT INTO t VALUES ({','.join('?' * width)})", rows)
    con.commit()
    con.close()
    return path


@pytest.mark.parametrize("path", [CYTOMINER_DB, EXPORTTODATABASE])
@pytest.mark.parametrize("table", ["Cells", "Cytoplasm", "Nuclei"])
def test_fixtures_decode_like_sqlite(path: Path, table: str) -> None:
    name = next(
        t for t in read_catalogue(path) if t.lower() in (table.lower(), f"per_{table.lower()}")
    )
    info = read_catalogue(path)[name]
    columns = [c for c in info.columns if c.lower().startswith(table.lower())]
    count = sqlite3.connect(path).execute(f"SELECT max(rowid) FROM {name}").fetchone()[0]
    rowids = np.random.default_rng(0).permutation(np.arange(1, count + 1))[: count // 2]
    rowids = np.concatenate([rowids, rowids[:7]])  # repeats are allowed
    decoded, expected = _both(path, name, rowids, columns)
    assert decoded is not None
    assert_frame_equal(decoded, expected)


values = st.one_of(
    st.none(),
    st.floats(allow_nan=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 127, 128, -129, 2**23, -(2**31), 2**47 - 1, 1.5, -0.0]),
    st.sampled_from(["nan", "inf", "-inf", "NaN", " 2.5 ", ""]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(values, min_size=12, max_size=12).map(tuple), min_size=1, max_size=60),
    page_size=st.sampled_from([512, 1024, 4096, 65536]),
    wide=st.integers(min_value=0, max_value=200),
)
def test_random_tables_decode_like_sqlite(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple], page_size: int, wide: int
) -> None:
    """Ints of every size, NULL, text numbers, rows with and without overflow pages."""
    path = tmp_path_factory.mktemp("rec") / "t.sqlite"
    padded = [(*row, *(float(i) * 0.5 for i in range(wide))) for row in rows]
    _table(path, padded, page_size=page_size)
    rowids = np.arange(1, len(rows) + 1)[::-1].copy()
    decoded, expected = _both(path, "t", rowids)
    assert decoded is not None
    assert_frame_equal(decoded, expected)


def test_deep_tree_and_deleted_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = [tuple(rng.standard_normal(40).tolist()) for _ in range(3000)]
    path = _table(tmp_path / "deep.sqlite", rows, page_size=512)
    con = sqlite3.connect(path)
    con.execute("DELETE FROM t WHERE rowid % 7 = 3")
    con.commit()
    con.close()
    rowids = np.asarray([r for r in range(1, 3001) if r % 7 != 3])
    decoded, expected = _both(path, "t", rowids)
    assert decoded is not None
    assert_frame_equal(decoded, expected)
    info = read_catalogue(path)["t"]
    assert open_record_reader(path, info).read(np.asarray([3]), ["c0"], ["c0"], "r") is None


def test_text_that_is_not_a_number(tmp_path: Path) -> None:
    path = _table(tmp_path / "bad.sqlite", [(1.0, 2.0), ("oops", 3.0)])
    info = read_catalogue(path)["t"]
    with pytest.raises(SchemaError, match=r"'c0' of table 't'.*'oops'"):
        open_record_reader(path, info).read(np.asarray([1, 2]), ["c0"], ["c0"], "r")


def test_steps_aside(tmp_path: Path) -> None:
    # a BLOB value: the slice is read through SQL
    path = _table(tmp_path / "blob.sqlite", [(1.0, b"\x00\x01"), (2.0, 3.0)])
    info = read_catalogue(path)["t"]
    assert open_record_reader(path, info).read(np.asarray([1, 2]), ["c1"], ["c1"], "r") is None
    # records shorter than the table (ALTER TABLE ADD COLUMN)
    path = _table(tmp_path / "alter.sqlite", [(1.0, 2.0)])
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE t ADD COLUMN c2 REAL")
    con.commit()
    con.close()
    info = read_catalogue(path)["t"]
    assert open_record_reader(path, info).read(np.asarray([1]), ["c0"], ["c0"], "r") is None
    # INTEGER PRIMARY KEY and WITHOUT ROWID tables
    con = sqlite3.connect(tmp_path / "keys.sqlite")
    con.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, x REAL)")
    con.execute("CREATE TABLE b (id INTEGER, x REAL, PRIMARY KEY (id)) WITHOUT ROWID")
    con.commit()
    con.close()
    catalogue = read_catalogue(tmp_path / "keys.sqlite")
    assert open_record_reader(tmp_path / "keys.sqlite", catalogue["a"]) is None
    assert open_record_reader(tmp_path / "keys.sqlite", catalogue["b"]) is None
    # a WAL file with frames
    wal = _table(tmp_path / "wal.sqlite", [(1.0, 2.0)])
    keep = sqlite3.connect(wal)
    keep.execute("PRAGMA journal_mode=WAL")
    keep.execute("INSERT INTO t VALUES (3.0, 4.0)")
    keep.commit()
    assert open_record_reader(wal, read_catalogue(wal)["t"]) is None
    keep.close()


def test_scan_is_the_same_with_and_without_the_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    with_decoder = scan_cellprofiler_sqlite(EXPORTTODATABASE).collect()
    monkeypatch.setenv("CYTOPLAN_SQLITE_DECODER", "0")
    without = scan_cellprofiler_sqlite(EXPORTTODATABASE).collect()
    assert_frame_equal(with_decoder, without)
    assert math.isfinite(with_decoder.select(pl.col("Cells_AreaShape_Area").sum()).item())


def test_a_file_changed_after_opening_is_read_through_sql(tmp_path: Path) -> None:
    path = _table(tmp_path / "changing.sqlite", [(1.0, 2.0), (3.0, 4.0)])
    info = read_catalogue(path)["t"]
    reader = open_record_reader(path, info)
    assert reader is not None
    assert reader.read(np.asarray([1, 2]), ["c0"], ["c0"], "r") is not None
    con = sqlite3.connect(path)
    con.execute("UPDATE t SET c0 = 9.0 WHERE rowid = 1")
    con.commit()
    con.close()
    assert reader.read(np.asarray([1, 2]), ["c0"], ["c0"], "r") is None
