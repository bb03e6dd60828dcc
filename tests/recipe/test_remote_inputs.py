"""Remote inputs: a recipe reads s3:// single cells; manifests record ETag and size."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from cytoplan.recipe import run_recipe
from cytoplan.recipe.provenance import checksum

from .conftest import BATCH, WORKSPACE

pytest.importorskip("moto")
pytest.importorskip("s3fs")

BUCKET = "recipes"


@pytest.fixture(scope="module")
def server() -> Iterator[object]:
    from cytoplan.testing.s3 import LocalS3Server

    with LocalS3Server() as s3:
        s3.create_bucket(BUCKET)
        yield s3


def test_recipe_over_s3_single_cells(
    server: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cytoplan as cp

    for name, value in server.environment().items():  # type: ignore[attr-defined]
        monkeypatch.setenv(name, value)
    cells = tmp_path / "cells.parquet"
    source = WORKSPACE / "backend" / BATCH / "BR00000001" / "BR00000001.sqlite"
    cp.convert(source, cells, progress=False)
    server.put(BUCKET, f"{BATCH}/BR00000001/BR00000001.parquet", cells.read_bytes())  # type: ignore[attr-defined]
    url = f"s3://{BUCKET}/{BATCH}/BR00000001/BR00000001.parquet"

    info = checksum(url)
    assert info["method"] == "etag"
    assert info["size"] == cells.stat().st_size
    assert len(info["checksum"]) >= 32

    recipe = tmp_path / "remote.yml"
    recipe.write_text(
        f"version: 1\nworkspace: {tmp_path}\ninputs:\n  single_cells: {url}\n"
        "steps:\n  aggregated: {op: aggregate}\n"
    )
    report = run_recipe(recipe, output_dir=tmp_path / "out")
    (task,) = [r.task for r in report.results]
    assert task.plates[0].plate == "BR00000001" and task.plates[0].batch == BATCH
    output = task.outputs[0].path
    expected = cp.aggregate(cells, object_count=True).collect()
    assert pl.read_parquet(output).equals(expected)
    manifest = json.loads(output.with_name(output.name + ".manifest.json").read_text())
    assert manifest["inputs"] == [{"role": "single_cells", "path": url, **info}]
    assert run_recipe(recipe, output_dir=tmp_path / "out").results[0].status == "skipped"


def test_missing_remote_input_is_a_source_error(
    server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cytoplan.exceptions import SourceError

    for name, value in server.environment().items():  # type: ignore[attr-defined]
        monkeypatch.setenv(name, value)
    with pytest.raises(SourceError, match=r"nothing\.parquet"):
        checksum(f"s3://{BUCKET}/nothing.parquet")


def test_storage_options_in_the_recipe(server: object, tmp_path: Path) -> None:
    import yaml

    options = server.storage_options()  # type: ignore[attr-defined]
    table = pl.DataFrame(
        {"Metadata_Plate": ["P9", "P9"], "Metadata_Well": ["A01", "A02"], "Cells_a": [1.0, 3.0]}
    )
    table.write_parquet(tmp_path / "w.parquet")
    server.put(BUCKET, "B9/P9/P9.parquet", (tmp_path / "w.parquet").read_bytes())  # type: ignore[attr-defined]
    recipe = tmp_path / "opts.yml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "workspace": str(tmp_path),
                "inputs": {
                    "single_cells": f"s3://{BUCKET}/B9/P9/P9.parquet",
                    "storage_options": options,
                },
                "steps": {"standardized": {"op": "normalize", "method": "standardize"}},
            }
        )
    )
    report = run_recipe(recipe, output_dir=tmp_path / "o")
    output = report.results[0].task.outputs[0].path
    assert output == tmp_path / "o" / "B9" / "P9" / "P9_standardized.parquet"
    assert pl.read_parquet(output)["Cells_a"].to_list() == [-1.0, 1.0]
    manifest = json.loads(output.with_name(output.name + ".manifest.json").read_text())
    assert manifest["inputs"][0]["method"] == "etag"
