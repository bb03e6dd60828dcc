"""scan_profiles: formats, Metadata as strings, folders and globs, clear errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from cytoplan.exceptions import SourceError
from cytoplan.io.profiles import infer_format, scan_profiles

TABLE = pl.DataFrame(
    {
        "Metadata_Plate": ["0012", "0012", "0013"],
        "Metadata_Well": ["A01", "A02", "A01"],
        "Cells_Area": [1.5, None, 3.25],
        "Nuclei_Count": [1, 2, 3],
    }
)


def test_parquet_file_folder_and_glob(tmp_path: Path) -> None:
    TABLE.head(2).write_parquet(tmp_path / "a.parquet")
    TABLE.tail(1).write_parquet(tmp_path / "b.parquet")
    for source in (
        tmp_path,
        tmp_path / "*.parquet",
        [tmp_path / "a.parquet", tmp_path / "b.parquet"],
    ):
        got = scan_profiles(source).collect().sort("Metadata_Plate", "Metadata_Well")
        assert got.equals(TABLE)


def test_numeric_looking_metadata_stays_text(tmp_path: Path) -> None:
    TABLE.with_columns(pl.col("Metadata_Plate").cast(pl.Int64)).write_parquet(
        tmp_path / "p.parquet"
    )
    got = scan_profiles(tmp_path / "p.parquet").collect()
    assert got.schema["Metadata_Plate"] == pl.String
    assert got["Metadata_Plate"].to_list() == ["12", "12", "13"]
    TABLE.write_csv(tmp_path / "p.csv")
    assert scan_profiles(tmp_path / "p.csv").collect()["Metadata_Plate"].to_list() == [
        "0012",
        "0012",
        "0013",
    ]


@pytest.mark.parametrize("name,separator", [("t.csv", ","), ("t.tsv", "\t"), ("t.txt", "\t")])
def test_text_tables_with_and_without_gzip(tmp_path: Path, name: str, separator: str) -> None:
    TABLE.write_csv(tmp_path / name, separator=separator)
    plain = scan_profiles(tmp_path / name).collect()
    assert plain.equals(TABLE)
    zipped = tmp_path / f"{name}.gz"
    zipped.write_bytes(gzip.compress((tmp_path / name).read_bytes()))
    assert scan_profiles(zipped).collect().equals(TABLE)


def test_separator_is_sniffed_not_taken_from_the_name(tmp_path: Path) -> None:
    TABLE.write_csv(tmp_path / "tab_separated.csv", separator="\t")
    assert scan_profiles(tmp_path / "tab_separated.csv").collect().equals(TABLE)


def test_missing_and_unknown_sources_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        scan_profiles(tmp_path / "nope.parquet")
    (tmp_path / "x.weird").write_text("a")
    with pytest.raises(SourceError, match="cannot tell the format"):
        scan_profiles(tmp_path / "x.weird")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SourceError, match="empty"):
        scan_profiles(tmp_path / "empty.csv")


def test_infer_format() -> None:
    assert infer_format("s3://bucket/plate.parquet") == "parquet"
    assert infer_format("plate.csv.gz") == "csv"
    assert infer_format("s3://bucket/batch/") == "parquet"


def test_text_metadata_leaves_a_plain_scan(tmp_path: Path) -> None:
    """No cast in the plan when every Metadata_* column is text already: the median per
    well then takes the block path for plain Parquet scans (positional group ids)."""
    from cytoplan.stats.holistic import _reads_in_file_order

    path = tmp_path / "cells.parquet"
    pl.DataFrame({"Metadata_Well": ["A01", "A02"], "Cells_x": [1.0, 2.0]}).write_parquet(path)
    lf = scan_profiles(path)
    assert "WITH_COLUMNS" not in lf.explain()
    assert _reads_in_file_order(lf, ["Metadata_Well", "Cells_x"])
    mixed = tmp_path / "mixed.parquet"
    pl.DataFrame({"Metadata_Site": [1, 2], "Metadata_Well": ["A01", "A02"]}).write_parquet(mixed)
    scanned = scan_profiles(mixed)
    assert scanned.collect_schema()["Metadata_Site"] == pl.String
    assert scanned.collect()["Metadata_Site"].to_list() == ["1", "2"]


def test_a_column_of_whole_numbers_with_decimals_further_down_is_float(tmp_path: Path) -> None:
    # pandas infers from every row; Polars from the first 10,000 unless told otherwise
    rows = ["Metadata_Well,Cells_Count,Cells_x"]
    rows += [f"A{i % 9},{i % 7},{i}.5" for i in range(12_000)]
    rows += ["B1,0.553,1.0"]
    path = tmp_path / "wells.csv"
    path.write_text("\n".join(rows) + "\n")
    frame = scan_profiles(path).collect()
    assert frame.schema["Cells_Count"] == pl.Float64
    assert frame["Cells_Count"][-1] == 0.553 and frame["Cells_Count"].sum() == pytest.approx(
        sum(i % 7 for i in range(12_000)) + 0.553
    )
    whole = tmp_path / "whole.csv"
    whole.write_text("\n".join(rows[:-1]) + "\n")
    assert scan_profiles(whole).collect_schema()["Cells_Count"] == pl.Int64  # as pandas


def test_a_dataset_whose_files_store_a_feature_narrower_is_widened(tmp_path: Path) -> None:
    # one plate wrote a feature as integers: the folder used to fail with a raw error
    pl.DataFrame({"Metadata_Well": ["A01"], "Cells_a": [1.5]}).write_parquet(tmp_path / "a.parquet")
    pl.DataFrame({"Metadata_Well": ["B01"], "Cells_a": [2]}).write_parquet(tmp_path / "b.parquet")
    for source in (tmp_path, str(tmp_path / "*.parquet"), sorted(tmp_path.iterdir())):
        frame = scan_profiles(source).collect()
        assert frame.schema["Cells_a"] == pl.Float64
        assert sorted(frame["Cells_a"].to_list()) == [1.5, 2.0]


def test_a_dataset_whose_files_differ_in_columns_is_one_error_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = tmp_path / "plates"
    folder.mkdir()
    pl.DataFrame({"Metadata_Well": ["A01"], "Cells_a": [1.5]}).write_parquet(folder / "a.parquet")
    pl.DataFrame({"Metadata_Well": ["B01"], "Cells_b": [2.0]}).write_parquet(folder / "b.parquet")
    command = [
        sys.executable,
        "-m",
        "cytoplan.cli",
        "aggregate",
        str(folder),
        str(tmp_path / "o.csv"),
        "--strata",
        "Metadata_Well",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("error: extra column in file outside of expected schema: Cells_b")
    assert "b.parquet" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o.csv").exists()


def test_text_tables_cytoplan_cannot_read_are_clear_errors(tmp_path: Path) -> None:
    for name in ("plate.csv.zst", "plate.csv.bz2"):
        (tmp_path / name).write_bytes(b"BZh91AY&SY\x00\x01")
        with pytest.raises(SourceError, match="compressed with other than gzip"):
            scan_profiles(tmp_path / name)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Metadata_Caf\xe9,Cells_a\nx,1\n".encode("latin-1"))
    with pytest.raises(SourceError, match="is not UTF-8 text"):
        scan_profiles(latin)


def test_a_quoted_header_name_holding_the_separator_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text('"Metadata_a,b",Metadata_Well,Cells_a\n0012,A01,1\n')
    assert scan_profiles(path).collect().row(0) == ("0012", "A01", 1)


def test_integers_beyond_64_bits_are_read_as_floats(tmp_path: Path) -> None:
    # Polars infers Int128, which Parquet and pandas cannot hold
    path = tmp_path / "big.csv"
    path.write_text("Metadata_Well,Cells_a\nA01,12345678901234567890\nA02,1\n")
    frame = scan_profiles(path).collect()
    assert frame.schema["Cells_a"] == pl.Float64
    assert frame["Cells_a"].to_list() == [12345678901234567890.0, 1.0]


def test_a_text_table_naming_a_column_twice_is_a_schema_error(tmp_path: Path) -> None:
    from cytoplan.exceptions import SchemaError

    path = tmp_path / "twice.csv"
    path.write_text("Metadata_Well,Cells_a,Cells_a\nA01,1,2\n")
    with pytest.raises(SchemaError, match=r"names column\(s\) \['Cells_a'\] more than once"):
        scan_profiles(path)
