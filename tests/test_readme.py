"""The README's Python example runs as written and its result is what it claims."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_example_runs_and_writes_level_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = _python_blocks()
    assert blocks, "the README has a Python example"
    code = blocks[0].replace('"data_fixtures/', f'"{ROOT}/data_fixtures/')
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    consensus = pl.read_parquet(tmp_path / "consensus.parquet")
    platemaps = ROOT / "data_fixtures/cpg0000-synthetic/workspace/metadata/platemaps"
    platemap = pl.read_csv(platemaps / "2024_01_01_Batch1/platemap/platemap_1.txt", separator="\t")
    assert consensus["Metadata_broad_sample"].to_list() == sorted(platemap["broad_sample"].unique())
    assert (
        0 < sum(c.startswith(("Cells_", "Nuclei_", "Cytoplasm_")) for c in consensus.columns) < 100
    )
