"""scan_cellprofiler_sqlite: parity with pycytominer 1.7.1, laziness, text 'nan', bad inputs."""

from __future__ import annotations

import math
import shutil
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from _cp_helpers import (
    CYTOMINER_DB,
    EXPORT_ARGS,
    EXPORTTODATABASE,
    assert_same_as_pycytominer,
    execute,
    pycytominer_merge,
    small_plate,
    with_views,
)

from cytoplan import LinkSpec, scan_cellprofiler_sqlite
from cytoplan.exceptions import ColumnNotFoundError, JoinError, SchemaError, SourceError
from cytoplan.io import _sqlite_fetch


@pytest.fixture
def sql_log(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement the ADBC reader runs."""
    seen: list[str] = []
    original = _sqlite_fetch.TableReader._execute

    def spy(self: _sqlite_fetch.TableReader, sql: str, rows: int) -> pl.DataFrame:
        seen.append(sql)
        return original(self, sql, rows)

    monkeypatch.setattr(_sqlite_fetch.TableReader, "_execute", spy)
    return seen


# ----------------------------------------------------------------------------- parity


def test_cytominer_database_fixture_equals_pycytominer() -> None:
    ours = scan_cellprofiler_sqlite(CYTOMINER_DB).collect()
    ref = pycytominer_merge(CYTOMINER_DB)
    assert_same_as_pycytominer(ours, ref)
    assert ours.columns[:6] == [
        "Metadata_ImageNumber",
        "Metadata_Plate",
        "Metadata_Site",
        "Metadata_Well",
        "Metadata_TableNumber",
        "Metadata_ObjectNumber_cytoplasm",
    ]


def test_exporttodatabase_fixture_equals_pycytominer(tmp_path: Path) -> None:
    ours = scan_cellprofiler_sqlite(EXPORTTODATABASE).collect()
    ref = pycytominer_merge(with_views(EXPORTTODATABASE, tmp_path), **EXPORT_ARGS)
    assert_same_as_pycytominer(ours, ref)
    assert ours.columns[:4] == [
        "Metadata_ImageNumber",
        "Image_Metadata_Plate",
        "Image_Metadata_Site",
        "Image_Metadata_Well",
    ]


def test_views_next_to_tables_do_not_confuse_detection(tmp_path: Path) -> None:
    copy = with_views(EXPORTTODATABASE, tmp_path)
    assert (
        scan_cellprofiler_sqlite(copy)
        .collect()
        .equals(scan_cellprofiler_sqlite(EXPORTTODATABASE).collect())
    )


def test_row_order_follows_the_cytoplasm_table(tmp_path: Path) -> None:
    """Shuffled cells/nuclei tables: rows still follow cytoplasm order, as pycytominer's."""
    path = small_plate(tmp_path, "exporttodatabase", cells=5)
    execute(
        path,
        "CREATE TABLE shuffled AS SELECT * FROM Per_Cells ORDER BY ObjectNumber DESC, ImageNumber",
        "DROP TABLE Per_Cells",
        "ALTER TABLE shuffled RENAME TO Per_Cells",
    )
    ours = scan_cellprofiler_sqlite(path).collect()
    ref = pycytominer_merge(with_views(path, tmp_path), **EXPORT_ARGS)
    assert_same_as_pycytominer(ours, ref)


def test_integer_table_number(tmp_path: Path) -> None:
    path = small_plate(tmp_path)
    con = sqlite3.connect(path)
    numbers = {t: i + 1 for i, (t,) in enumerate(con.execute("SELECT TableNumber FROM Image"))}
    con.close()
    for table in ("Image", "Cells", "Cytoplasm", "Nuclei"):
        cases = " ".join(f"WHEN '{t}' THEN {n}" for t, n in numbers.items())
        execute(path, f"UPDATE {table} SET TableNumber = CASE TableNumber {cases} END")
    ours = scan_cellprofiler_sqlite(path).collect()
    assert sorted(set(ours["Metadata_TableNumber"])) == [str(n) for n in sorted(numbers.values())]
    assert_same_as_pycytominer(ours, pycytominer_merge(path))


def test_orphans_drop_equals_pycytominer(tmp_path: Path) -> None:
    path = small_plate(tmp_path)
    execute(path, "DELETE FROM Cells WHERE ObjectNumber = 2")
    with pytest.raises(
        JoinError, match=r"4 of 16 rows of 'Cytoplasm' have no matching row in 'Cells'"
    ):
        scan_cellprofiler_sqlite(path).collect()
    ours = scan_cellprofiler_sqlite(path, link=LinkSpec(orphans="drop")).collect()
    assert ours.height == 12
    assert_same_as_pycytominer(ours, pycytominer_merge(path))


# ----------------------------------------------------------------------------- laziness


def test_select_reads_only_the_selected_columns(sql_log: list[str]) -> None:
    lf = scan_cellprofiler_sqlite(CYTOMINER_DB)
    sql_log.clear()
    out = lf.select("Metadata_Well", "Cells_AreaShape_Area").collect()
    assert out.columns == ["Metadata_Well", "Cells_AreaShape_Area"]
    assert out.height == 384
    wide = [sql for sql in sql_log if "Cells_AreaShape_Area" in sql]
    assert len(wide) == 1
    selected = wide[0].split(" FROM ")[0]
    assert selected.count(" AS ") == 2  # rowid and the one feature
    assert not any(
        "Nuclei_AreaShape_Area" in sql or "Cytoplasm_AreaShape" in sql for sql in sql_log
    )


def test_head_reads_only_the_first_rows(sql_log: list[str]) -> None:
    lf = scan_cellprofiler_sqlite(CYTOMINER_DB)
    sql_log.clear()
    out = lf.head(5).collect()
    assert out.height == 5
    reads = [sql for sql in sql_log if "rowid BETWEEN" in sql]
    assert len(reads) == 3  # one slice per compartment table
    # the first image has 8 objects: no read goes past it
    assert all(int(sql.split(" AND ")[1].split()[0]) <= 8 for sql in reads)


def test_filter_on_image_columns_skips_other_images(sql_log: list[str]) -> None:
    lf = scan_cellprofiler_sqlite(CYTOMINER_DB)
    full = lf.collect()
    sql_log.clear()
    out = lf.filter(pl.col("Metadata_Well") == "B02").select(
        "Metadata_Well", "Nuclei_AreaShape_Area"
    )
    got = out.collect()
    expected = full.filter(pl.col("Metadata_Well") == "B02").select(got.columns)
    assert got.equals(expected)
    assert got.height == 16
    reads = [sql for sql in sql_log if "Nuclei_AreaShape_Area" in sql]
    assert reads and all("IN (" in sql or "BETWEEN" in sql for sql in reads)
    assert sum(sql.count(",") for sql in reads) < 40  # 16 rowids, not 384


def test_filter_on_features_and_columns_argument() -> None:
    lf = scan_cellprofiler_sqlite(CYTOMINER_DB, columns=["Metadata_Well", "Cells_AreaShape_Area"])
    assert lf.collect_schema().names() == ["Metadata_Well", "Cells_AreaShape_Area"]
    full = lf.collect()
    got = lf.filter(pl.col("Cells_AreaShape_Area") > 0.1).collect()
    assert got.equals(full.filter(pl.col("Cells_AreaShape_Area") > 0.1))
    with pytest.raises(ColumnNotFoundError, match="Cells_Nope"):
        scan_cellprofiler_sqlite(CYTOMINER_DB, columns=["Cells_Nope"])


def test_schema_without_reading_rows(sql_log: list[str]) -> None:
    schema = scan_cellprofiler_sqlite(CYTOMINER_DB).collect_schema()
    assert not sql_log
    assert schema["Metadata_Site"] == pl.String
    assert schema["Metadata_Cytoplasm_Parent_Cells"] == pl.String
    assert schema["Cells_AreaShape_Area"] == pl.Float64
    assert schema["Cytoplasm_Number_Object_Number"] == pl.Float64


# ----------------------------------------------------------------------------- text values


def test_text_nan_in_real_columns(tmp_path: Path) -> None:
    path = small_plate(tmp_path, "exporttodatabase", cells=3, features=4)
    column = "Cells_AreaShape_Area"
    texts = {1: "nan", 2: "inf", 3: "-inf", 4: "Infinity", 5: " 1.5 ", 6: "NaN", 7: ""}
    for rowid, text in texts.items():
        execute(path, f"UPDATE Per_Cells SET {column} = '{text}' WHERE rowid = {rowid}")
    execute(path, f"UPDATE Per_Cells SET {column} = NULL WHERE rowid = 8")
    con = sqlite3.connect(path)
    exact = con.execute(f"SELECT {column} FROM Per_Cells WHERE rowid = 9").fetchone()[0]
    con.close()
    got = scan_cellprofiler_sqlite(path).select(column).collect()[column].to_list()
    # cells are linked 1:1 in the generator's permutation; compare as a multiset
    expected_specials = [None, math.inf, -math.inf, math.inf, 1.5, None, None, None]
    for value in expected_specials:
        assert value in got
    assert exact in got  # doubles next to text keep every digit
    assert sum(v is None for v in got) == 4


def test_leading_nulls_then_numbers(tmp_path: Path) -> None:
    """A column NULL in the first rows and REAL later is read as Float64 (no type errors)."""
    path = small_plate(tmp_path, "exporttodatabase", cells=3, features=4)
    execute(path, "UPDATE Per_Nuclei SET Nuclei_AreaShape_Area = NULL WHERE rowid <= 6")
    got = scan_cellprofiler_sqlite(path).select("Nuclei_AreaShape_Area").collect().to_series()
    assert got.dtype == pl.Float64
    assert got.null_count() == 6


def test_text_that_is_not_a_number_raises(tmp_path: Path) -> None:
    path = small_plate(tmp_path, "exporttodatabase", cells=3, features=4)
    execute(path, "UPDATE Per_Cells SET Cells_AreaShape_Area = 'oops' WHERE rowid = 2")
    with pytest.raises(SchemaError, match=r"Cells_AreaShape_Area.*Per_Cells.*'oops'"):
        scan_cellprofiler_sqlite(path).collect()


# ----------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"SQLite file not found: .*nope\.sqlite"):
        scan_cellprofiler_sqlite(tmp_path / "nope.sqlite")


@pytest.mark.parametrize("content", [b"", b"ImageNumber,ObjectNumber\n1,1\n"])
def test_not_a_sqlite_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "plate.sqlite"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=r"plate\.sqlite.*(empty|not a SQLite database)"):
        scan_cellprofiler_sqlite(path)


def test_corrupt_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "plate.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + b"\x01" * 200)
    with pytest.raises(SourceError, match=r"plate\.sqlite"):
        scan_cellprofiler_sqlite(path)


def test_missing_compartment_table(tmp_path: Path) -> None:
    path = small_plate(tmp_path)
    execute(path, "DROP TABLE Nuclei")
    with pytest.raises(SourceError, match=r"no 'Nuclei' table in .*P1-cdb\.sqlite.*tables: "):
        scan_cellprofiler_sqlite(path)


def test_missing_linking_column(tmp_path: Path) -> None:
    path = small_plate(tmp_path)
    execute(path, "ALTER TABLE Cytoplasm DROP COLUMN Cytoplasm_Parent_Nuclei")
    with pytest.raises(
        ColumnNotFoundError, match=r"linking column missing.*'Cytoplasm'.*'Cytoplasm_Parent_Nuclei'"
    ):
        scan_cellprofiler_sqlite(path)


def test_missing_image_metadata(tmp_path: Path) -> None:
    path = small_plate(tmp_path)
    execute(path, "ALTER TABLE Image DROP COLUMN Metadata_Site")
    with pytest.raises(ColumnNotFoundError, match=r"'Metadata_Site'.*image_columns"):
        scan_cellprofiler_sqlite(path)
    custom = LinkSpec(image_columns=("Metadata_Plate", "Metadata_Well"))
    out = scan_cellprofiler_sqlite(path, link=custom).collect()
    assert "Metadata_Site" not in out.columns
    assert out.height == 16


def test_empty_table(tmp_path: Path) -> None:
    path = small_plate(tmp_path)
    execute(path, "DELETE FROM Cells")
    lf = scan_cellprofiler_sqlite(path)
    with pytest.raises(SourceError, match=r"table 'Cells' of .* is empty"):
        lf.collect()


def test_duplicated_object_numbers(tmp_path: Path) -> None:
    path = small_plate(tmp_path)
    execute(path, "INSERT INTO Nuclei SELECT * FROM Nuclei WHERE rowid = 1")
    with pytest.raises(JoinError, match=r"'Nuclei'.*duplicated.*multiply"):
        scan_cellprofiler_sqlite(path).collect()


def test_missing_image_rows(tmp_path: Path) -> None:
    path = small_plate(tmp_path, "exporttodatabase")
    execute(path, "DELETE FROM Per_Image WHERE ImageNumber = 2")
    with pytest.raises(JoinError, match=r"4 merged rows have no row in the image table"):
        scan_cellprofiler_sqlite(path).collect()
    out = scan_cellprofiler_sqlite(path, link=LinkSpec(orphans="drop")).collect()
    assert out.filter(pl.col("Image_Metadata_Well").is_null()).height == 4
    ref = pycytominer_merge(with_views(path, path.parent), **EXPORT_ARGS)
    assert_same_as_pycytominer(out, ref)


def test_explicit_tables_and_non_canonical_names(tmp_path: Path) -> None:
    path = small_plate(tmp_path, "exporttodatabase")
    execute(path, "ALTER TABLE Per_Nuclei RENAME TO Objects_Nuclei")
    with pytest.raises(SourceError, match="Nuclei"):
        scan_cellprofiler_sqlite(path)
    spec = LinkSpec(tables={"nuclei": "Objects_Nuclei"})
    assert scan_cellprofiler_sqlite(path, link=spec).collect().height == 16


def test_view_as_compartment_is_refused(tmp_path: Path) -> None:
    path = small_plate(tmp_path, "exporttodatabase")
    shutil.copyfile(path, tmp_path / "copy.sqlite")
    execute(path, "CREATE VIEW nuclei_view AS SELECT * FROM Per_Nuclei")
    with pytest.raises(SourceError, match="view"):
        scan_cellprofiler_sqlite(path, link=LinkSpec(tables={"nuclei": "nuclei_view"}))


def test_a_blob_in_a_feature_column_is_a_schema_error_naming_it(tmp_path: Path) -> None:
    plate = small_plate(tmp_path)
    execute(plate, "UPDATE Cells SET Cells_Location_Center_X = x'0001' WHERE ObjectNumber = 2")
    with pytest.raises(SchemaError) as raised:
        scan_cellprofiler_sqlite(plate).collect()
    message = str(raised.value)
    assert "'Cells_Location_Center_X' of table 'Cells'" in message
    assert "holds binary values (SQLite BLOB), not numbers or text" in message
