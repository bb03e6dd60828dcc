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
import polars as pl
import cytoplan as cp
source, method = sys.argv[1], sys.argv[2]
scan = cp.scan_profiles(source)
frames = [scan, pl.read_parquet(source).lazy()]  # a file and memory
if method == "median":  # and a join, whose rows come in another order at each collect
    wells = scan.select("Metadata_Well").unique()  # (a mean's last bits follow row order)
    frames.append(scan.join(wells, on="Metadata_Well", how="semi"))
for frame in frames:
    for limit in ("1MiB", "2GiB"):
        wells = cp.aggregate(frame, method=method, object_count=False, memory_limit=limit)
        print(hashlib.sha256(wells.collect().write_ipc(None).getvalue()).hexdigest())
"""


@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("method", ["mean", "median"])
def test_same_bytes_with_one_or_two_threads(tmp_path: Path, method: str, shuffled: bool) -> None:
    cells = make_profiles(plates=2, wells=24, cells_per_well=2_000, features=24, seed=3)
    if shuffled:  # a well's rows scattered over the file: Polars' hash group-by
        cells = cells.sample(fraction=1.0, shuffle=True, seed=4)
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
        digests.update(done.stdout.split())
    assert len(digests) == 1
