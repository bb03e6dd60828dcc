"""Polars settings cytoplan turns on when it is imported first (metadata pruning)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from cytoplan.testing.profiles import make_profiles

VARIABLE = "POLARS_PRUNE_PARQUET_METADATA"


def _python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != VARIABLE}


def test_importing_cytoplan_first_turns_on_metadata_pruning(clean_env: dict[str, str]) -> None:
    show = f"import os; print(os.environ.get({VARIABLE!r}))"
    assert _python(f"import cytoplan; {show}", clean_env) == "1"
    assert _python(f"import polars, cytoplan; {show}", clean_env) == "None"  # too late
    assert _python(f"import cytoplan; {show}", {**clean_env, VARIABLE: "0"}) == "0"


def test_medians_are_the_same_with_and_without_pruning(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    # a wide file in several row groups, read in 8 column blocks: the pruned metadata
    # must give the same medians, bit for bit
    cells = make_profiles(plates=1, wells=12, cells_per_well=40, features=240, seed=3)
    source = tmp_path / "cells.parquet"
    cells.write_parquet(source, row_group_size=97)
    outputs = {}
    for setting in ("0", "1"):
        out = tmp_path / f"medians_{setting}.parquet"
        code = (
            "import cytoplan, polars as pl; from cytoplan.ops.aggregate import aggregate; "
            f"aggregate(pl.scan_parquet({str(source)!r}), method='median', memory_limit=2_000_000)"
            f".collect().write_parquet({str(out)!r})"
        )
        _python(code, {**clean_env, VARIABLE: setting})
        outputs[setting] = pl.read_parquet(out)
    assert outputs["0"].height == 12
    assert outputs["0"].width > 200
    assert outputs["0"].equals(outputs["1"])
