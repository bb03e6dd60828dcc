"""Benchmark: ``cytoplan.compat.pycytominer`` vs pycytominer 1.7.1 on small inputs.

The compat layer's calls take and return pandas frames like pycytominer's, so on
small tables their fixed cost (conversions, query planning) is what shows. Each
(case, library) pair runs in its own subprocess: it builds the same seeded input,
calls the function once (``first_s``, the median over rounds: imports warm,
caches cold), then ``--repeat`` more times; ``--rounds`` such subprocesses run per
library, alternating between the libraries so that load bursts on a shared machine
hit both alike (``min_s``, ``median_s`` over all timed calls). The parent checks that both libraries return
the same table (columns, and values to 1e-6 relative) and prints and saves the
figures to ``benchmarks/results/compat.json`` (no machine paths in it). Nothing
passes or fails on time.

Cases:

* ``feature_select``      384 wells × 500 features (missing values, correlated and
                          near-constant features), operations variance_threshold,
                          correlation_threshold, drop_na_columns, blocklist;
* ``fs_variance``, ``fs_drop_na``, ``fs_frequency``: the same table, one operation;
* ``deep_small_median``   ``AggregateDeepProfiler(aggregate_on="well").aggregate_deep()``
                          on a handful of npz sites: 1 plate × 4 wells × 3 sites,
                          100–200 cells per site, 672 features;
* ``deep_small_mean``     the same with ``aggregate_operation="mean"``;
* ``deep_plate_median``   16 wells × 4 sites, 300–600 cells per site, 672 features.

Usage::

    python benchmarks/compat.py                   # every case, 3 rounds × 7 calls
    python benchmarks/compat.py --cases feature_select --repeat 15

The machine may be shared: the 1-minute load average is recorded with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
LIBRARIES = ("pycytominer", "cytoplan.compat")
FS_OPS = ["variance_threshold", "correlation_threshold", "drop_na_columns", "blocklist"]
CASES: dict[str, dict[str, Any]] = {
    "feature_select": {"kind": "fs", "operation": FS_OPS},
    "fs_variance": {"kind": "fs", "operation": "variance_threshold"},
    "fs_drop_na": {"kind": "fs", "operation": "drop_na_columns"},
    "fs_frequency": {"kind": "fs", "operation": "frequency_threshold"},
    "deep_small_median": {"kind": "deep", "project": "small", "operation": "median"},
    "deep_small_mean": {"kind": "deep", "project": "small", "operation": "mean"},
    "deep_plate_median": {"kind": "deep", "project": "plate", "operation": "median"},
}
PROJECTS: dict[str, dict[str, Any]] = {
    "small": {
        "n_plates": 1,
        "wells": [f"A{c:02d}" for c in range(1, 5)],
        "sites": 3,
        "n_features": 672,
        "cells_per_site": (100, 200),
    },
    "plate": {
        "n_plates": 1,
        "wells": [f"{r}{c:02d}" for r in "AB" for c in range(1, 9)],
        "sites": 4,
        "n_features": 672,
        "cells_per_site": (300, 600),
    },
}


def describe(case: str) -> str:
    """A one-line description of a case's input and call."""
    spec = CASES[case]
    if spec["kind"] == "fs":
        return f"feature_select(384 wells x 500 features, operation={spec['operation']!r})"
    project = PROJECTS[spec["project"]]
    sites = len(project["wells"]) * project["sites"]
    low, high = project["cells_per_site"]
    return (
        f"AggregateDeepProfiler(aggregate_on='well', aggregate_operation="
        f"{spec['operation']!r}) on {sites} npz sites ({low}-{high} cells each, "
        f"{project['n_features']} float32 features)"
    )


# ---------------------------------------------------------------- child process


def _child(case: str, library: str, workdir: Path, repeat: int, out: Path) -> None:
    """Time one (case, library) pair and pickle ``{"times": ..., "result": frame}``."""
    warnings.simplefilter("ignore")
    spec = CASES[case]
    if library == "pycytominer":
        import pycytominer as lib
        from pycytominer.cyto_utils import DeepProfiler_processing as dp
    else:
        from cytoplan.compat import pycytominer as lib  # type: ignore[no-redef]
        from cytoplan.compat.pycytominer.cyto_utils import (  # type: ignore[no-redef]
            DeepProfiler_processing as dp,
        )
    if spec["kind"] == "fs":
        import pandas as pd

        profiles = pd.read_parquet(workdir / "wells.parquet")

        def call() -> Any:
            return lib.feature_select(profiles, operation=spec["operation"])

    else:
        root = workdir / spec["project"]
        index, features = root / "inputs/metadata/index.csv", root / "outputs/results/features"

        def call() -> Any:
            data = dp.DeepProfilerData(str(index), str(features))
            return dp.AggregateDeepProfiler(
                data, aggregate_operation=spec["operation"], aggregate_on="well"
            ).aggregate_deep()

    start = time.perf_counter()
    result = call()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    out.write_bytes(pickle.dumps({"first": first, "times": times, "result": result}))


# ---------------------------------------------------------------- parent


def _inputs(workdir: Path, cases: list[str]) -> None:
    """Write the seeded inputs the children read (once per run)."""
    from cytoplan.testing.deepprofiler import write_deepprofiler_project
    from cytoplan.testing.profiles import make_profiles

    if any(CASES[c]["kind"] == "fs" for c in cases):
        make_profiles(plates=1, wells=384, features=500, seed=3).write_parquet(
            workdir / "wells.parquet"
        )
    for name in sorted({CASES[c]["project"] for c in cases if CASES[c]["kind"] == "deep"}):
        write_deepprofiler_project(workdir / name, seed=7, **PROJECTS[name])


def _same(a: Any, b: Any) -> bool:
    """Same columns and values (floats to 1e-6 relative; DeepProfiler features are float32)."""
    import numpy as np
    import pandas as pd

    if list(a.columns) != list(b.columns) or a.shape != b.shape:
        return False
    for name in a.columns:
        x, y = a[name], b[name]
        if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
            ok = np.allclose(
                x.to_numpy(dtype=float), y.to_numpy(dtype=float), rtol=1e-6, equal_nan=True
            )
        else:
            ok = x.astype(str).tolist() == y.astype(str).tolist()
        if not ok:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the cases, print a table, save ``benchmarks/results/compat.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--repeat", type=int, default=7, help="timed calls after the first")
    parser.add_argument(
        "--rounds", type=int, default=3, help="subprocesses per library, alternating"
    )
    parser.add_argument("--output", default=str(RESULTS / "compat.json"))
    parser.add_argument("--child", nargs=4, metavar=("CASE", "LIB", "WORKDIR", "OUT"))
    args = parser.parse_args(argv)
    if args.child:
        case, library, workdir, out = args.child
        _child(case, library, Path(workdir), args.repeat, Path(out))
        return 0
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="cytoplan-compat-bench-") as tmp:
        workdir = Path(tmp)
        _inputs(workdir, cases)
        for case in cases:
            outcome: dict[str, Any] = {library: None for library in LIBRARIES}
            loads: dict[str, list[float]] = {library: [] for library in LIBRARIES}
            for _ in range(args.rounds):  # the libraries alternate: shared-machine bursts
                for library in LIBRARIES:  # hit both alike
                    out = workdir / f"{case}-{library}.pickle"
                    loads[library].append(os.getloadavg()[0])
                    command = [sys.executable, __file__, "--repeat", str(args.repeat)]
                    command += ["--child", case, library, str(workdir), str(out)]
                    subprocess.run(command, check=True)
                    got = pickle.loads(out.read_bytes())
                    if outcome[library] is None:
                        outcome[library] = {**got, "firsts": [got["first"]]}
                    else:
                        outcome[library]["times"] += got["times"]
                        outcome[library]["firsts"].append(got["first"])
            for library in LIBRARIES:
                got = outcome[library]
                rows.append(
                    {
                        "case": case,
                        "library": library,
                        "call": describe(case),
                        "first_s": round(statistics.median(got["firsts"]), 4),
                        "min_s": round(min(got["times"]), 4),
                        "median_s": round(statistics.median(got["times"]), 4),
                        "calls": len(got["times"]),
                        "load_avg": round(statistics.mean(loads[library]), 2),
                        "rows_out": int(got["result"].shape[0]),
                        "columns_out": int(got["result"].shape[1]),
                    }
                )
            same = _same(outcome["cytoplan.compat"]["result"], outcome["pycytominer"]["result"])
            for row in rows[-2:]:
                row["same_result"] = same
    print(f"{'case':20s} {'library':16s} {'first':>8s} {'min':>8s} {'median':>8s}  same")
    for row in rows:
        print(
            f"{row['case']:20s} {row['library']:16s} {row['first_s']:8.3f} "
            f"{row['min_s']:8.3f} {row['median_s']:8.3f}  {row['same_result']}"
        )
    from importlib.metadata import version

    report = {
        "benchmark": "compat",
        "command": " ".join(
            [
                "python benchmarks/compat.py",
                "--cases",
                ",".join(cases),
                "--repeat",
                str(args.repeat),
                "--rounds",
                str(args.rounds),
            ]
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.system(),
        },
        "versions": {
            name: version(name) for name in ("cytoplan", "pycytominer", "pandas", "polars")
        },
        "results": rows,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {output.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
