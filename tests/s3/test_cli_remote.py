"""The CLI with remote inputs and outputs (s3:// URLs; endpoint and keys from AWS_* variables)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from _s3_helpers import GALLERY, PRIVATE
from click.testing import CliRunner

from cytoplan import api
from cytoplan.cli import main
from cytoplan.io.convert import convert
from cytoplan.io.profiles import scan_profiles
from cytoplan.testing.s3 import LocalS3Server

BACKEND = "data_fixtures/cpg0000-synthetic/workspace/backend/2024_01_01_Batch1"
SQLITE = Path(__file__).resolve().parents[2] / BACKEND / "BR00000001/BR00000001.sqlite"


@pytest.fixture
def aws_env(s3_server: LocalS3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CYTOPLAN_TEMP_DIR", str(tmp_path))


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.usefixtures("aws_env")
def test_convert_then_aggregate_remote_in_remote_out(
    s3_server: LocalS3Server, prefix: str, tmp_path: Path
) -> None:
    s3_server.put(GALLERY, f"{prefix}/BR00000001.sqlite", SQLITE.read_bytes(), public=True)
    sqlite_url = f"s3://{GALLERY}/{prefix}/BR00000001.sqlite"
    cells_url = f"s3://{PRIVATE}/{prefix}/BR00000001.parquet"
    code, output = invoke("convert", sqlite_url, cells_url, "--quiet")
    assert code == 0, output
    local_cells = tmp_path / "cells.parquet"
    convert(SQLITE, local_cells)
    assert scan_profiles(cells_url).collect().equals(pl.read_parquet(local_cells))

    wells_url = f"s3://{PRIVATE}/{prefix}/BR00000001_wells.csv.gz"
    code, output = invoke(
        "aggregate", cells_url, wells_url, "--object-count", "--float-format", "%.5g"
    )
    assert code == 0, output
    assert f"wrote {wells_url}" in output
    got = scan_profiles(wells_url).collect()
    expected = api.aggregate(local_cells, object_count=True).collect()
    assert got.shape == expected.shape
    assert got["Metadata_Well"].to_list() == expected["Metadata_Well"].to_list()
    column = next(c for c in expected.columns if c.startswith("Cells_"))
    assert got[column].to_list() == [float(f"{v:.5g}") for v in expected[column]]

    code, output = invoke("inspect", cells_url)
    assert code == 0, output
    assert "BR00000001" in output


@pytest.mark.usefixtures("aws_env")
def test_missing_remote_input_exits_1_naming_the_url(prefix: str, s3_server: LocalS3Server) -> None:
    url = f"s3://{GALLERY}/{prefix}/none.parquet"
    code, output = invoke("aggregate", url, f"s3://{PRIVATE}/{prefix}/out.parquet")
    assert code == 1
    assert f"not found: '{url}'" in output
    assert s3_server.keys(PRIVATE, f"{prefix}/") == []
