"""feature_select's report is bit-identical whatever the thread count (DESIGN contract 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cytoplan.ops.feature_select import FeatureSelector
from cytoplan.testing.profiles import make_profiles

# every figure of the report, as hex bits, for each operation and each engine path
# (a small memory limit sends the summaries through the streaming engine)
SCRIPT = """
import json, sys
import polars as pl
from cytoplan.ops.feature_select import FeatureSelector
lf = pl.scan_parquet(sys.argv[1])
cases = {
    "variance_threshold": {"min_variance": 10.0},
    "frequency_threshold": {"freq_cut": 1.0},
    "noise_removal": {
        "noise_removal_perturb_groups": "Metadata_Well",
        "noise_removal_stdev_cutoff": 0.0,
    },
}
out = {}
for memory_limit in ("64MiB", "8GiB"):
    for operation, options in cases.items():
        selector = FeatureSelector(
            operations=[operation], memory_limit=memory_limit, **options
        ).fit(lf)
        report = selector.dropped_
        out[f"{operation}@{memory_limit}"] = [
            (feature, value.hex())
            for feature, value in report.select("feature", "value").rows()
        ]
print(json.dumps(out))
"""


def _report(source: Path, threads: str) -> dict[str, list[list[str]]]:
    env = {**os.environ, "POLARS_MAX_THREADS": threads}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(source)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = make_profiles(plates=2, wells=24, cells_per_well=2_000, features=24, seed=3)
    source = tmp_path_factory.mktemp("fs_determinism") / "cells.parquet"
    frame.write_parquet(source, row_group_size=5_000)
    return source


def test_report_bits_same_with_one_or_two_threads(cells: Path) -> None:
    one = _report(cells, "1")
    two = _report(cells, "2")
    assert one == two
    # non-trivial reports: every case dropped features, and both engine paths agree
    for operation in ("variance_threshold", "frequency_threshold", "noise_removal"):
        assert one[f"{operation}@64MiB"] == one[f"{operation}@8GiB"]
        assert len(one[f"{operation}@64MiB"]) > 0
    assert len(one["variance_threshold@64MiB"]) == 20
    assert len(one["noise_removal@64MiB"]) == 24


def test_report_variances_are_numpy_population_variances(cells: Path) -> None:
    frame = pl.read_parquet(cells)
    selector = FeatureSelector(operations=["variance_threshold"], min_variance=10.0)
    report = selector.fit(frame.lazy()).dropped_
    assert report.height == 20
    for feature, value in report.select("feature", "value").rows():
        expected = float(np.nanvar(frame[feature].cast(pl.Float64).to_numpy()))
        assert value == pytest.approx(expected, rel=1e-14)


def test_noise_removal_report_is_mean_of_group_population_sds(cells: Path) -> None:
    frame = pl.read_parquet(cells)
    selector = FeatureSelector(
        operations=["noise_removal"],
        noise_removal_perturb_groups="Metadata_Well",
        noise_removal_stdev_cutoff=0.0,
    )
    report = selector.fit(frame.lazy()).dropped_
    assert report.height == 24
    pdf = frame.to_pandas()
    for feature, value in report.select("feature", "value").rows():
        groups = pdf.groupby("Metadata_Well")[feature]
        expected = float(groups.std(ddof=0).mean())
        assert value == pytest.approx(expected, rel=1e-12)
