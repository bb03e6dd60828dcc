"""A recipe reading its single cells from S3 (the gallery bucket) gives the local outputs."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from _s3_helpers import GALLERY

from cytoplan.testing.s3 import LocalS3Server

WORKSPACE = Path(__file__).resolve().parents[2] / "data_fixtures/cpg0000-synthetic/workspace"
BATCH = "2024_01_01_Batch1"
PLATES = ("BR00000001", "BR00000002")

RECIPE = """version: 1
name: remote-input
workspace: {workspace}
output:
  dir: {output}
  format: parquet
inputs:
  single_cells:
{sources}
  barcode_platemap: metadata/platemaps/{{batch}}/barcode_platemap.csv
  platemap: metadata/platemaps/{{batch}}/platemap/{{platemap_name}}.txt
steps:
  aggregated:
    op: aggregate
    method: median
    object_count: true
  augmented:
    op: annotate
    join_on: [Metadata_well_position, Metadata_Well]
"""


def _recipe(folder: Path, sources: list[str]) -> Path:
    text = RECIPE.format(
        workspace=WORKSPACE,
        output=folder / "out",
        sources="\n".join(f"    - {s}" for s in sources),
    )
    path = folder / "recipe.yml"
    path.write_text(text)
    return path


def test_recipe_with_single_cells_on_s3(
    s3_server: LocalS3Server, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cytoplan.recipe import load_recipe, run_recipe

    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CYTOPLAN_TEMP_DIR", str(tmp_path))
    urls, paths = [], []
    for plate in PLATES:
        relative = f"backend/{BATCH}/{plate}/{plate}.sqlite"
        s3_server.put(
            GALLERY,
            f"{prefix}/workspace/{relative}",
            (WORKSPACE / relative).read_bytes(),
            public=True,
        )
        urls.append(f"s3://{GALLERY}/{prefix}/workspace/{relative}")
        paths.append(str(WORKSPACE / relative))
    (tmp_path / "remote").mkdir()
    (tmp_path / "local").mkdir()
    remote_run = run_recipe(load_recipe(_recipe(tmp_path / "remote", urls)))
    local_run = run_recipe(load_recipe(_recipe(tmp_path / "local", paths)))
    remote_out = sorted(p for paths in remote_run.outputs_by_level().values() for p in paths)
    local_out = sorted(p for paths in local_run.outputs_by_level().values() for p in paths)
    assert len(remote_out) == len(local_out) == 4
    for got, want in zip(remote_out, local_out, strict=True):
        assert got.name == want.name
        assert pl.read_parquet(got).equals(pl.read_parquet(want))
    assert pl.read_parquet(remote_out[0]).height > 0
