"""The CLI as a user runs it: real subprocesses on the bundled fixtures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import cytoplan as cp

WORKSPACE = (
    Path(__file__).resolve().parents[2] / "data_fixtures" / "cpg0000-synthetic" / "workspace"
)
SQLITE = WORKSPACE / "backend" / "2024_01_01_Batch1" / "BR00000001" / "BR00000001.sqlite"
PLATEMAP = (
    WORKSPACE / "metadata" / "platemaps" / "2024_01_01_Batch1" / "platemap" / "platemap_1.txt"
)
NEGCON = "Metadata_control_type == 'negcon'"


def run(*args: str | Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cytoplan.cli", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == expect, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def levels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("cli")
    paths = {
        "cells": out / "cells.parquet",
        "wells": out / "wells.parquet",
        "augmented": out / "augmented.csv",
        "normalized": out / "normalized.csv.gz",
        "selected": out / "selected.parquet",
        "report": out / "dropped.csv",
        "consensus": out / "consensus.tsv",
    }
    run("convert", SQLITE, paths["cells"])
    run("aggregate", paths["cells"], paths["wells"], "--object-count")
    run("annotate", paths["wells"], paths["augmented"], "--platemap", PLATEMAP)
    run(
        "normalize",
        paths["augmented"],
        paths["normalized"],
        "--method",
        "mad_robustize",
        "--samples",
        NEGCON,
        "--by",
        "Metadata_Plate",
    )
    run(
        "feature-select",
        paths["normalized"],
        paths["selected"],
        "--operations",
        "variance_threshold,correlation_threshold,drop_na_columns,blocklist",
        "--report",
        paths["report"],
    )
    run(
        "consensus",
        paths["selected"],
        paths["consensus"],
        "--replicate-columns",
        "Metadata_broad_sample",
        "--method",
        "modz",
    )
    return paths


def test_each_level_equals_the_python_api(levels: dict[str, Path]) -> None:
    cells = cp.scan_cellprofiler_sqlite(SQLITE)
    assert pl.read_parquet(levels["cells"]).equals(cells.collect())
    wells = cp.aggregate(cells, object_count=True).collect()
    assert pl.read_parquet(levels["wells"]).equals(wells)
    normalized = cp.normalize(
        cp.annotate(wells, PLATEMAP),
        method="mad_robustize",
        reference=NEGCON,
        by="Metadata_Plate",
    ).collect()
    from_cli = cp.scan_profiles(levels["normalized"]).collect()
    assert from_cli.columns == normalized.columns
    features = [c for c in normalized.columns if not c.startswith("Metadata_")]
    np.testing.assert_allclose(
        from_cli.select(features).to_numpy(), normalized.select(features).to_numpy(), rtol=1e-12
    )


def test_feature_select_report_names_each_dropped_feature(levels: dict[str, Path]) -> None:
    report = pl.read_csv(levels["report"])
    selected = pl.read_parquet(levels["selected"])
    normalized = cp.scan_profiles(levels["normalized"]).collect_schema().names()
    assert set(report["feature"]) == set(normalized) - set(selected.columns)
    assert set(report["operation"]) <= {
        "variance_threshold",
        "correlation_threshold",
        "drop_na_columns",
        "blocklist",
    }
    assert "Nuclei_Correlation_Manders_AGP_DNA" in report["feature"].to_list()


def test_consensus_has_one_row_per_compound(levels: dict[str, Path]) -> None:
    consensus = cp.scan_profiles(levels["consensus"]).collect()
    platemap = pl.read_csv(PLATEMAP, separator="\t")
    assert consensus["Metadata_broad_sample"].to_list() == sorted(
        platemap["broad_sample"].unique().to_list()
    )


def test_consensus_modz_with_kendall_equals_the_api(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    signal = rng.normal(size=(3, 30)).repeat(4, axis=0)
    wells = pl.DataFrame(
        signal + rng.normal(size=(12, 30)), schema=[f"Cells_f{i}" for i in range(30)]
    )
    wells = wells.insert_column(
        0, pl.Series("Metadata_g", ["a", "b", "c"]).gather([0] * 4 + [1] * 4 + [2] * 4)
    )
    wells.write_parquet(tmp_path / "wells.parquet")
    out = tmp_path / "kendall.parquet"
    run("consensus", tmp_path / "wells.parquet", out, "--replicate-columns", "Metadata_g",
        "--method", "modz", "--modz-method", "kendall", "--quiet")  # fmt: skip

    def modz(method: str) -> pl.DataFrame:
        return cp.consensus(
            wells.lazy(),
            replicate_columns="Metadata_g",
            method="modz",
            modz_method=method,  # type: ignore[arg-type]
        ).collect()

    cli = pl.read_parquet(out)
    assert cli.equals(modz("kendall"))
    assert not cli.equals(modz("spearman"))  # the option reached MODZ


def test_inspect_prints_roles_rows_and_plates(levels: dict[str, Path]) -> None:
    out = run("inspect", levels["cells"]).stdout
    assert "rows      384" in out
    assert "plates    1: BR00000001" in out
    assert "Cells 35, Cytoplasm 31, Nuclei 34" in out


def test_help_shows_defaults_and_an_example() -> None:
    out = run("normalize", "--help").stdout
    assert "Example:" in out
    assert "[default: standardize]" in out


def test_wrong_arguments_exit_2(tmp_path: Path) -> None:
    done = run("normalize", SQLITE, tmp_path / "x.parquet", "--method", "zscore", expect=2)
    assert "Invalid value for '--method'" in done.stderr
    run("aggregate", expect=2)


def test_bad_input_exits_1_with_a_message_and_no_output(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-plate.sqlite"
    bogus.write_text("hello")
    dest = tmp_path / "out.parquet"
    done = run("convert", bogus, dest, expect=1)
    assert done.stderr.startswith("error:")
    assert not dest.exists()
    done = run("normalize", tmp_path / "missing.parquet", dest, expect=1)
    assert "not found" in done.stderr
    done = run("normalize", SQLITE, dest, "--samples", "Metadata_x ==", expect=1)
    assert "cannot parse query" in done.stderr
    assert list(tmp_path.iterdir()) == [bogus]


def test_convert_says_how_much_metadata_scans_will_hold(tmp_path: Path) -> None:
    small = run("convert", SQLITE, tmp_path / "one.parquet")
    assert "parquet   1 row group; scans hold ~0.1 MiB of metadata" in small.stdout
    assert "warning:" not in small.stderr
    # 384 cells in 16-row groups: 24 x 110 column chunks, ~1.4 MiB, over a quarter of 4 MB
    many = run(
        "convert",
        SQLITE,
        tmp_path / "many.parquet",
        "--row-group-size",
        "16",
        "--memory-limit",
        "4MB",
    )
    assert "parquet   24 row groups; scans hold ~1.4 MiB of metadata" in many.stdout
    assert "warning: every later scan" in many.stderr
    assert "(24 row groups x 110 columns)" in many.stderr
    assert "--row-group-size 1024" in many.stderr
    assert pl.read_parquet(tmp_path / "many.parquet").equals(
        pl.read_parquet(tmp_path / "one.parquet")
    )


def test_every_holistic_command_takes_a_memory_limit(
    levels: dict[str, Path], tmp_path: Path
) -> None:
    # a median consensus works in column blocks like aggregate and normalize
    outputs = []
    for limit in ("1KB", "2GiB"):
        out = tmp_path / f"consensus_{limit}.parquet"
        run(
            "consensus",
            levels["selected"],
            out,
            "--replicate-columns",
            "Metadata_broad_sample",
            "--memory-limit",
            limit,
        )
        outputs.append(pl.read_parquet(out))
    assert outputs[0].height > 1 and outputs[0].equals(outputs[1])
