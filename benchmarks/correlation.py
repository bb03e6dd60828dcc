"""Benchmark: the correlation_threshold feature selection, side by side.

Each measured thing runs in its own subprocess (under ``prlimit --as=<cap>``); the
parent (``_measure.run_step``) polls the process tree's RSS every 50 ms (psutil) and
records wall time and peak RSS; the child reports the time of the operation proper
(``op_s``: the best of ``--inner`` in-process repeats; ``op_first_s``: the first, cold
call) and of loading the data (``load_s``). Nothing passes or fails on time: figures (and their ratio to
the floor) are printed and saved as JSON under ``benchmarks/results/``.

Data (written once to ``--data-dir``, never committed): ``cytoplan.testing.profiles``
tables without missing values (so pycytominer takes its ``np.corrcoef`` path):

* ``wells3000`` / ``wells6000`` — 384 wells × 3,000 / 6,000 features;
* ``cells50k`` — 49,920 cells (384 wells × 130) × 3,000 features;
* ``Lwells`` — per-well means (``cytoplan.ops.aggregate``) of the shared L plate
  (``L/plate_sc.parquet`` under ``_measure.BENCH_DATA``: 384 wells × ~3,000 CellProfiler-like
  features with far fewer correlated pairs than the ``make_profiles`` tables, whose
  every third feature is a copy of one base feature — pycytominer's pair loop is slow
  there).

Cases:

* ``floor``            one streaming pass over the feature columns of the Parquet file;
* ``corrcoef``         ``np.corrcoef`` on the in-memory matrix (matrix only, no selection);
* ``polars_naive``     ``DataFrame.corr()`` on the in-memory table (matrix only);
* ``pycytominer``      ``pycytominer.feature_select(operation="correlation_threshold")``;
* ``cytoplan``         ``FeatureSelector(operations="correlation_threshold").fit`` on the
                       in-memory table (``df.lazy()``): matrix, ranking and pair rule;
* ``cytoplan_stream``  the same, straight from ``pl.scan_parquet`` (streamed Gram matrix;
                       ``op_s`` includes reading the file).

cytoplan's and pycytominer's dropped sets are compared.

Usage::

    python benchmarks/correlation.py --datasets wells3000,wells6000,cells50k \\
        --cases floor,corrcoef,polars_naive,pycytominer,cytoplan,cytoplan_stream --repeat 3 --inner 5

The machine is shared while these run: timings carry noise; rerun for final figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _measure import BENCH_DATA, case_record, run_step  # noqa: E402

RESULTS = HERE / "results"
DATASETS = {
    "wells3000": {"wells": 384, "cells_per_well": 1, "features": 3000},
    "wells6000": {"wells": 384, "cells_per_well": 1, "features": 6000},
    "cells50k": {"wells": 384, "cells_per_well": 130, "features": 3000},
    "Lwells": {},  # per-well means of the shared L plate (fewer correlated pairs)
}
L_PLATE = str(BENCH_DATA / "L" / "plate_sc.parquet")
ALL_CASES = ["floor", "corrcoef", "polars_naive", "pycytominer", "cytoplan", "cytoplan_stream"]
THRESHOLD = 0.9


def _path(data_dir: Path, name: str) -> Path:
    return data_dir / f"corr_{name}.parquet"


def _make(data_dir: Path, name: str) -> Path:
    path = _path(data_dir, name)
    if path.exists():
        return path
    import polars as pl

    from cytoplan.testing.profiles import make_profiles

    if name == "Lwells":
        from cytoplan.ops.aggregate import aggregate

        data_dir.mkdir(parents=True, exist_ok=True)
        wells = aggregate(pl.scan_parquet(L_PLATE), method="mean").collect(engine="streaming")
        tmp = path.with_suffix(".tmp")
        wells.write_parquet(tmp, row_group_size=16_384)
        tmp.rename(path)
        return path
    spec = DATASETS[name]
    frame = make_profiles(
        plates=1,
        wells=spec["wells"],
        cells_per_well=spec["cells_per_well"],
        features=spec["features"],
        seed=7,
        nulls=False,
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.write_parquet(tmp, row_group_size=16_384)
    del frame
    tmp.rename(path)
    assert isinstance(pl.scan_parquet(path), pl.LazyFrame)
    return path


def _features(path: str) -> list[str]:
    import polars as pl

    names = pl.scan_parquet(path).collect_schema().names()
    return [n for n in names if n.startswith(("Cells_", "Cytoplasm_", "Nuclei_"))]


# --------------------------------------------------------------------------- cases


def case_floor(path: str, args: argparse.Namespace) -> dict[str, object]:
    import polars as pl

    t0 = time.perf_counter()
    pl.scan_parquet(path).select(_features(path)).sum().collect(engine="streaming")
    return {"op_s": time.perf_counter() - t0}


def _load_numpy(path: str) -> tuple[object, float]:
    import polars as pl

    t0 = time.perf_counter()
    values = pl.read_parquet(path, columns=_features(path)).to_numpy()
    return values, time.perf_counter() - t0


def case_corrcoef(path: str, args: argparse.Namespace) -> dict[str, object]:
    import numpy as np

    values, load = _load_numpy(path)
    times = []
    for _ in range(args.inner):
        t0 = time.perf_counter()
        np.corrcoef(values.T)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - t0)
    return {"load_s": load, **_times(times)}


def _times(times: list[float]) -> dict[str, float]:
    """First call (cold) and best of the in-process repeats (``--inner``)."""
    return {"op_first_s": times[0], "op_s": min(times)}


def case_polars_naive(path: str, args: argparse.Namespace) -> dict[str, object]:
    import polars as pl

    t0 = time.perf_counter()
    frame = pl.read_parquet(path, columns=_features(path))
    load = time.perf_counter() - t0
    times = []
    for _ in range(args.inner):
        t1 = time.perf_counter()
        frame.corr()
        times.append(time.perf_counter() - t1)
    return {"load_s": load, **_times(times)}


def case_pycytominer(path: str, args: argparse.Namespace) -> dict[str, object]:
    import warnings

    import pandas as pd
    import pycytominer

    t0 = time.perf_counter()
    df = pd.read_parquet(path)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pycytominer.feature_select(
            df,
            features=_features(path),
            operation="correlation_threshold",
            corr_threshold=THRESHOLD,
        )
    t2 = time.perf_counter()
    dropped = sorted(set(df.columns) - set(out.columns))
    return {"load_s": t1 - t0, "op_s": t2 - t1, "dropped": dropped}


def _cytoplan(
    make_lf: Callable[[], object], path: str, args: argparse.Namespace
) -> tuple[list[str], dict[str, float]]:
    import numpy  # noqa: F401  (one-time imports, loaded before timing as for corrcoef)
    import scipy.linalg.blas  # noqa: F401

    from cytoplan.ops.feature_select import FeatureSelector

    times = []
    dropped: list[str] = []
    for _ in range(args.inner):
        t0 = time.perf_counter()
        selector = FeatureSelector(
            operations="correlation_threshold",
            features=_features(path),
            corr_threshold=THRESHOLD,
            memory_limit=args.memory_limit,
        ).fit(make_lf())  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
        dropped = sorted(selector.dropped_["feature"].to_list())
    return dropped, _times(times)


def case_cytoplan(path: str, args: argparse.Namespace) -> dict[str, object]:
    import polars as pl

    t0 = time.perf_counter()
    frame = pl.read_parquet(path)
    load = time.perf_counter() - t0
    dropped, times = _cytoplan(frame.lazy, path, args)
    return {"load_s": load, **times, "dropped": dropped}


def case_cytoplan_stream(path: str, args: argparse.Namespace) -> dict[str, object]:
    import polars as pl

    dropped, times = _cytoplan(lambda: pl.scan_parquet(path), path, args)
    return {**times, "dropped": dropped}


CASES = {name: globals()[f"case_{name}"] for name in ALL_CASES}


# --------------------------------------------------------------------------- runner


def _best(records: list[dict[str, object]], case: str, key: str) -> float | None:
    values = [
        float(r[key])  # type: ignore[arg-type]
        for r in records
        if r["case"] == case and r["status"] == "ok" and key in r
    ]
    return min(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--cases", default=",".join(ALL_CASES))
    parser.add_argument("--data-dir", default=str(BENCH_DATA / "corr"))
    parser.add_argument("--memory-limit", default="1GiB")
    parser.add_argument("--cap", type=int, default=8_000_000_000, help="address-space cap, bytes")
    parser.add_argument("--repeat", type=int, default=3, help="subprocesses per case")
    parser.add_argument(
        "--inner", type=int, default=1, help="in-process repeats (best reported as op_s)"
    )
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--label", default="dev")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:  # child process: run one case, print its JSON
        print(json.dumps(CASES[args.case](args.path, args)))
        return

    RESULTS.mkdir(parents=True, exist_ok=True)
    summary: dict[str, object] = {}
    for dataset in args.datasets.split(","):
        path = str(_make(Path(args.data_dir), dataset))
        records: list[dict[str, object]] = []
        for name in args.cases.split(","):
            for rep in range(args.repeat):
                cmd = [
                    sys.executable,
                    __file__,
                    "--case",
                    name,
                    "--path",
                    path,
                    "--memory-limit",
                    args.memory_limit,
                    "--inner",
                    str(args.inner if name not in ("pycytominer", "floor") else 1),
                ]
                # the child's JSON (with the dropped-feature list) is kept whole
                step = run_step(name, cmd, address_space=args.cap, timeout_s=args.timeout, digits=3)
                record = {"dataset": dataset, "case": name, "repeat": rep}
                record.update(case_record(step, cpu=False))
                shown = {k: v for k, v in record.items() if k != "dropped"}
                print(json.dumps(shown), flush=True)
                records.append(record)
        ours = next((r.get("dropped") for r in records if r["case"].startswith("cytoplan")), None)
        theirs = next((r.get("dropped") for r in records if r["case"] == "pycytominer"), None)
        corrcoef = _best(records, "corrcoef", "op_s")
        floor = _best(records, "floor", "wall_s")
        table = {}
        for name in args.cases.split(","):
            op, wall = _best(records, name, "op_s"), _best(records, name, "wall_s")
            peaks = [r["peak_rss_gib"] for r in records if r["case"] == name]
            table[name] = {
                "best_op_s": None if op is None else round(op, 3),
                "best_wall_s": wall,
                "max_peak_rss_gib": max(peaks) if peaks else None,  # type: ignore[type-var]
                "op_vs_corrcoef": round(op / corrcoef, 2) if op and corrcoef else None,
                "wall_vs_floor": round(wall / floor, 2) if wall and floor else None,
            }
        summary[dataset] = {
            "path": Path(path).name,  # no machine path in benchmarks/results/
            "same_dropped_set_as_pycytominer": None
            if ours is None or theirs is None
            else ours == theirs,
            "n_dropped": None if ours is None else len(ours),  # type: ignore[arg-type]
            "table": table,
            "runs": [{k: v for k, v in r.items() if k != "dropped"} for r in records],
        }
        print(f"\n== {dataset} ({path})")
        for name, row in table.items():
            print(
                f"{name:<16} op {row['best_op_s']!s:>8} s  wall {row['best_wall_s']!s:>8} s  "
                f"peak {row['max_peak_rss_gib']!s:>6} GiB  op/corrcoef {row['op_vs_corrcoef']}"
                f"  wall/floor {row['wall_vs_floor']}"
            )
        print(
            "same dropped set as pycytominer:", summary[dataset]["same_dropped_set_as_pycytominer"]
        )
    result = {
        "benchmark": "correlation_threshold",
        "label": args.label,
        "threshold": THRESHOLD,
        "memory_limit": args.memory_limit,
        "cap_bytes": args.cap,
        "repeat": args.repeat,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "note": "shared machine (4 other engineers): timings are noisy; best of --repeat runs",
        "datasets": summary,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    target = RESULTS / f"correlation_{args.label}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
