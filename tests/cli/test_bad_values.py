"""Input a user can get wrong, caught before any file is written: values that are not
numbers, text compared with numbers, report paths; and options spelled loosely."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

PLATEMAP = (
    Path(__file__).resolve().parents[2]
    / "data_fixtures/cpg0000-synthetic/workspace/metadata/platemaps/2024_01_01_Batch1"
    / "platemap/platemap_1.txt"
)


def run(*args: str | Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cytoplan.cli", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == expect, done.stdout + done.stderr
    return done


WELLS = pl.DataFrame(
    {
        "Metadata_Plate": ["P1"] * 4,
        "Metadata_Well": ["A01", "A02", "B01", "B02"],
        "Cells_a": [1.0, 2.0, 3.0, 5.0],
        "Cells_b": [2.0, 1.0, 4.0, 3.0],
    }
)


@pytest.fixture
def wells(tmp_path: Path) -> Path:
    path = tmp_path / "wells.parquet"
    WELLS.write_parquet(path)
    return path


def test_a_text_token_in_a_feature_column_is_an_error_naming_it(tmp_path: Path) -> None:
    table = tmp_path / "wells.csv"
    table.write_text(
        "Metadata_Plate,Metadata_Well,Cells_a,Cells_b\nP1,A01,1.5,#DIV/0!\nP1,A02,2.5,2\n"
    )
    for command, prefix in (
        # aggregate stages a text table as Parquet first: the message names the input
        (["aggregate", table, tmp_path / "out.csv"], f"reading {str(table)!r}: "),
        (["normalize", table, tmp_path / "out.csv"], ""),
        (["consensus", table, tmp_path / "out.csv", "--replicate-columns", "Metadata_Well"], ""),
    ):
        done = run(*command, expect=1)
        assert done.stderr == (
            f"error: {prefix}could not parse `#DIV/0!` as dtype `f64` "
            "at column 'Cells_b' (column number 4)\n"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wells.csv"]


def test_text_metadata_against_numbers(wells: Path, tmp_path: Path) -> None:
    out = tmp_path / "normalized.parquet"
    # equality: text that is not a number equals no number (pandas), so every plate is kept
    run("normalize", wells, out, "--samples", "Metadata_Plate != 0", "-q")
    everything = pl.read_parquet(out)
    run("normalize", wells, out, "--samples", "all", "-q")
    assert everything.equals(pl.read_parquet(out))
    # an ordering is an error, in one line, and the earlier output is untouched
    done = run(
        "normalize", wells, tmp_path / "x.parquet", "--samples", "Metadata_Well > 3", expect=1
    )
    assert done.stderr.startswith("error: conversion from `str` to `f64` failed")
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "x.parquet").exists()


def test_a_bad_report_path_fails_before_the_output_is_written(wells: Path, tmp_path: Path) -> None:
    out = tmp_path / "selected.parquet"
    for report, message in (
        (tmp_path / "missing" / "r.csv", "does not exist"),
        (tmp_path / "r.xlsx", "cannot tell the output format"),
        (out, "same file as OUTPUT"),
    ):
        done = run("feature-select", wells, out, "--report", report, expect=1)
        assert message in done.stderr
        assert not out.exists()


def test_methods_are_case_insensitive_and_one_join_key_serves_both_sides(
    wells: Path, tmp_path: Path
) -> None:
    run("normalize", wells, tmp_path / "upper.parquet", "--method", "MAD_Robustize", "-q")
    run("normalize", wells, tmp_path / "lower.parquet", "--method", "mad_robustize", "-q")
    upper = pl.read_parquet(tmp_path / "upper.parquet")
    assert upper.equals(pl.read_parquet(tmp_path / "lower.parquet"))
    assert upper["Cells_a"].to_list() != WELLS["Cells_a"].to_list()  # it did normalize

    platemap = tmp_path / "platemap.txt"
    pl.read_csv(PLATEMAP, separator="\t").rename({"well_position": "Well"}).write_csv(
        platemap, separator="\t"
    )
    out = tmp_path / "annotated.parquet"
    run("annotate", wells, out, "--platemap", platemap, "--join-on", "Metadata_Well", "-q")
    annotated = pl.read_parquet(out)
    assert annotated["Metadata_Well"].to_list() == ["A01", "A02", "B01", "B02"]
    assert annotated["Metadata_broad_sample"].null_count() == 0


def test_blocklist_alone_needs_no_reference_rows_and_a_stray_blocklist_is_reported(
    wells: Path, tmp_path: Path
) -> None:
    out = tmp_path / "selected.parquet"
    blocked = ["--operations", "blocklist", "--blocklist", "Cells_a"]
    run("feature-select", wells, out, *blocked, "--samples", "Metadata_Well == 'Z99'", "-q")
    assert pl.read_parquet(out).columns == ["Metadata_Plate", "Metadata_Well", "Cells_b"]
    done = run(
        "feature-select",
        wells,
        out,
        "--operations",
        "variance_threshold",
        "--blocklist",
        "Cells_a",
        "-q",
    )
    assert done.stderr == "warning: --blocklist is used only by the blocklist operation\n"
    assert "Cells_a" in pl.read_parquet(out).columns


@pytest.mark.parametrize("by", ["", ",", " , "])
def test_normalize_by_naming_no_column_is_an_error(wells: Path, tmp_path: Path, by: str) -> None:
    # it used to mean "one fit over all rows", silently
    done = run("normalize", wells, tmp_path / "out.parquet", "--by", by, expect=1)
    assert done.stderr == (
        f"error: --by {by!r} names no column: give one (e.g. --by Metadata_Plate) or leave it out\n"
    )
    assert not (tmp_path / "out.parquet").exists()


def test_feature_select_report_over_the_input_is_refused(wells: Path, tmp_path: Path) -> None:
    before = wells.read_bytes()
    done = run("feature-select", wells, tmp_path / "out.parquet", "--report", wells, expect=1)
    assert "is the same file as INPUT; give it its own name" in done.stderr
    assert wells.read_bytes() == before
    assert not (tmp_path / "out.parquet").exists()


def test_write_gct_refuses_an_output_that_is_not_a_gct_or_is_the_input(
    wells: Path, tmp_path: Path
) -> None:
    before = wells.read_bytes()
    done = run("write-gct", wells, wells, expect=1)
    assert "must be named .gct" in done.stderr
    done = run("write-gct", wells, tmp_path / "wells.csv", expect=1)
    assert "must be named .gct" in done.stderr
    assert wells.read_bytes() == before
    run("write-gct", wells, tmp_path / "wells.gct")
    assert (tmp_path / "wells.gct").read_text().startswith("#1.3\n")


def test_a_ragged_text_table_is_an_error_naming_it_not_a_temporary_copy(tmp_path: Path) -> None:
    table = tmp_path / "ragged.csv"
    table.write_text("Metadata_Well,Cells_a\nA01,1,3\nA02\n")
    done = run("aggregate", table, tmp_path / "out.parquet", "--strata", "Metadata_Well", expect=1)
    assert (
        done.stderr
        == f"error: reading {str(table)!r}: found more fields than defined in 'Schema'\n"
    )
