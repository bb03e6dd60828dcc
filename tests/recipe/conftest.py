"""Shared runs of the bundled recipes (each run once per test session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cytoplan.recipe import RunReport, run_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "data_fixtures" / "recipes"
WORKSPACE = ROOT / "data_fixtures" / "cpg0000-synthetic" / "workspace"
PROFILING_RECIPE = RECIPES / "profiling-recipe.yml"
CYTOPLAN_RECIPE = RECIPES / "cytoplan.yml"
BATCH = "2024_01_01_Batch1"
PLATES = ["BR00000001", "BR00000002"]


@pytest.fixture(scope="session")
def profiling_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunReport, Path]:
    """The profiling-recipe config, unchanged, run into a temporary workspace output."""
    out = tmp_path_factory.mktemp("profiling") / "profiles"
    report = run_recipe(PROFILING_RECIPE, workspace=WORKSPACE, output_dir=out)
    return report, out


@pytest.fixture(scope="session")
def cytoplan_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunReport, Path]:
    out = tmp_path_factory.mktemp("cytoplan") / "out"
    report = run_recipe(CYTOPLAN_RECIPE, output_dir=out)
    return report, out
