"""``cytoplan run``, ``explain`` and ``write-gct`` as a user runs them (subprocesses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "data_fixtures" / "recipes"
WORKSPACE = ROOT / "data_fixtures" / "cpg0000-synthetic" / "workspace"
BATCH = "2024_01_01_Batch1"


def cli(
    *args: str | Path, expect: int = 0, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cytoplan.cli", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    assert done.returncode == expect, done.stdout + done.stderr
    return done


def test_profiling_recipe_from_the_workspace_prints_every_level(tmp_path: Path) -> None:
    # profiling-recipe's convention: run from the workspace folder
    out = tmp_path / "profiles"
    done = cli("run", RECIPES / "profiling-recipe.yml", "--output-dir", out, cwd=WORKSPACE)
    assert "quality_control is not yet supported" in done.stderr
    for level in ("level 3:", "level 4a:", "level 4b:"):
        assert level in done.stdout
    negcon = out / BATCH / "BR00000001" / "BR00000001_normalized_negcon.csv.gz"
    assert f"  {negcon}\n" in done.stdout  # outside the current folder: absolute
    assert pl.read_csv(negcon).height == 24
    assert (negcon.parent / (negcon.name + ".manifest.json")).is_file()
    gct = tmp_path / "gct" / BATCH / f"{BATCH}_normalized_feature_select_batch.gct"
    assert gct.read_text().startswith("#1.3\n")
    again = cli(
        "run", RECIPES / "profiling-recipe.yml", "--output-dir", out, "--quiet", cwd=WORKSPACE
    )
    assert again.stdout == ""


def test_broken_recipe_exits_1_with_file_and_line(tmp_path: Path) -> None:
    recipe = tmp_path / "broken.yml"
    text = (RECIPES / "cytoplan.yml").read_text()
    text = text.replace("workspace: ../cpg0000-synthetic/workspace", f"workspace: {WORKSPACE}")
    recipe.write_text(
        text.replace("    method: median\n", "    method: median\n    strta: [Metadata_Plate]\n")
    )
    line = next(i for i, row in enumerate(recipe.read_text().splitlines(), 1) if "strta" in row)
    done = cli("run", recipe, "--output-dir", tmp_path / "out", expect=1)
    assert f"broken.yml:{line}: unknown key 'strta' in step 'aggregated'" in done.stderr
    assert "did you mean 'strata'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
    explained = cli("explain", recipe, expect=1)
    assert f"broken.yml:{line}:" in explained.stderr


def test_wrong_arguments_exit_2(tmp_path: Path) -> None:
    assert "Missing argument 'RECIPE'" in cli("run", expect=2).stderr
    assert "does not exist" in cli("run", tmp_path / "nope.yml", expect=2).stderr
    assert (
        "No such option '--forse'"
        in cli("run", RECIPES / "cytoplan.yml", "--forse", expect=2).stderr
    )
    assert "Missing argument 'OUTPUT'" in cli("write-gct", "x.parquet", expect=2).stderr


def test_help_shows_an_example() -> None:
    for command in ("run", "explain", "write-gct"):
        assert "Example:" in cli(command, "--help").stdout


def test_explain_prints_the_plan_without_writing(tmp_path: Path) -> None:
    done = cli("explain", RECIPES / "cytoplan.yml", "--output-dir", tmp_path / "out")
    assert "consensus all plates  [consensus, level 5" in done.stdout
    assert "in   backend/2024_01_01_Batch1/BR00000001/BR00000001.sqlite" in done.stdout
    assert not (tmp_path / "out").exists()


def test_write_gct_command(tmp_path: Path) -> None:
    table = pl.DataFrame(
        {"Metadata_Plate": ["P1", "P1"], "Metadata_Well": ["A01", "A02"], "Cells_a": [0.25, -1.0]}
    )
    table.write_parquet(tmp_path / "wells.parquet")
    cli("write-gct", tmp_path / "wells.parquet", tmp_path / "wells.gct")
    lines = (tmp_path / "wells.gct").read_text().splitlines()
    assert lines[:3] == ["#1.3", "1\t2\t1\t2", "id\tcp_feature_name\tSAMPLE_0\tSAMPLE_1"]
    assert lines[-1] == "Cells_a\tCells_a\t0.25\t-1.0"
    missing = cli(
        "write-gct",
        tmp_path / "wells.parquet",
        tmp_path / "x.gct",
        "--features",
        "Cells_zz",
        expect=1,
    )
    assert "Cells_zz" in missing.stderr


def test_readme_first_command_prints_where_each_level_went(tmp_path: Path) -> None:
    done = cli("run", RECIPES / "cytoplan.yml", "--output-dir", "example-profiles", cwd=tmp_path)
    out = done.stdout
    for level, path in (
        ("3", f"example-profiles/{BATCH}/BR00000001/BR00000001_aggregated.parquet"),
        ("4a", f"example-profiles/{BATCH}/BR00000002/BR00000002_normalized_negcon.parquet"),
        ("4b", f"example-profiles/{BATCH}/BR00000001/BR00000001_feature_selected.parquet"),
        ("5", "example-profiles/consensus.parquet"),
    ):
        assert f"level {level}:" in out
        assert f"  {path}\n" in out
        assert (tmp_path / path).is_file()
        assert (tmp_path / (path + ".manifest.json")).is_file()
    assert "8 step(s) run, 0 up to date" in out


def test_an_interrupt_while_the_recipe_loads_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Click turned it into "Aborted!" and exit code 1
    from click.testing import CliRunner

    import cytoplan.recipe
    from cytoplan.cli.run import run_command

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cytoplan.recipe, "load_recipe", interrupted)
    recipe = tmp_path / "recipe.yml"
    recipe.write_text("steps: []\n")
    result = CliRunner().invoke(run_command, [str(recipe), "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 130
    assert "interrupted: nothing was run" in result.output
