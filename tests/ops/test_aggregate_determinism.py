"""Well profiles are byte-identical whatever the thread count (DESIGN contract 3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cytoplan.testing.profiles import make_profiles

SCRIPT = """
import hashlib, sys
import cytoplan as cp
frame = cp.aggregate(cp.scan_profiles(sys.argv[1]), method=sys.argv[2], object_count=False)
print(hashlib.sha256(frame.collect().write_ipc(None).getvalue()).hexdigest())
"""


@pytest.mark.parametrize("method", ["mean", "median"])
def test_same_bytes_with_one_or_two_threads(tmp_path: Path, method: str) -> None:
    cells = make_profiles(plates=2, wells=24, cells_per_well=2_000, features=24, seed=3)
    source = tmp_path / "cells.parquet"
    cells.write_parquet(source, row_group_size=5_000)
    digests = set()
    for threads in ("1", "2"):
        env = {**os.environ, "POLARS_MAX_THREADS": threads}
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(source), method],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        digests.add(done.stdout.strip())
    assert len(digests) == 1
