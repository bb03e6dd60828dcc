"""Benchmark: per-well aggregation of a single-cell Parquet plate.

Each measured thing runs in its own subprocess (``_measure.run_step``: the process
tree's RSS polled every 50 ms with psutil, wall time, CPU time, peak RSS, under
``prlimit --as``). Nothing passes or fails on time: figures (and their ratio to the
floor) are printed and saved as JSON under ``benchmarks/results/``.

Cases (all on the same file, per-well = ``Metadata_Plate`` x ``Metadata_Well``):

* ``floor``            one streaming pass over the feature columns
                       (``scan_parquet(f).select(features).sum().collect(engine="streaming")``);
* ``cytoplan_median``  ``cytoplan.ops.aggregate.aggregate(method="median", memory_limit=...)``;
* ``cytoplan_median_fixed_reserve`` the same with the block budget of before 2026-11-24
                       (the limit less a fixed 256 MiB, whatever the process holds);
* ``cytoplan_cli_median`` ``cytoplan aggregate INPUT OUTPUT --memory-limit ...`` (the CLI);
* ``cytoplan_mean``    ``aggregate(method="mean", memory_limit=...)`` (the same column blocks);
* ``polars_median``    naive ``group_by(strata).agg(features.median())`` (streaming engine);
* ``duckdb_median``    ``SELECT strata, median(f1), ... GROUP BY strata`` (DuckDB, with its
                       memory_limit set to the cap);
* ``pycytominer_median`` ``pd.read_parquet`` + ``pycytominer.aggregate`` (expected to die at L).

Every case but the floor writes its result to a temporary Parquet file and the parent
checks that results agree (max abs difference of the medians vs cytoplan).

Usage::

    python benchmarks/aggregate.py --plate L/plate_sc.parquet \\
        --label L --memory-limit 1GiB --cap 8000000000 \\
        --cases floor,cytoplan_median,cytoplan_mean,polars_median,duckdb_median,pycytominer_median

The machine is shared while these run: timings carry noise; rerun for final figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _measure import (  # noqa: E402
    add_floor_ratios,
    case_record,
    max_abs_diff,
    parquet_features,
    plate_path,
    run_child_case,
    run_step,
)

RESULTS = HERE / "results"
STRATA = ["Metadata_Plate", "Metadata_Well"]
ALL_CASES = [
    "floor",
    "cytoplan_median",
    "cytoplan_median_fixed_reserve",
    "cytoplan_cli_median",
    "cytoplan_mean",
    "polars_median",
    "duckdb_median",
    "pycytominer_median",
]


# --------------------------------------------------------------------------- cases


def case_floor(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    import polars as pl

    features = parquet_features(path)
    pl.scan_parquet(path).select(features).sum().collect(engine="streaming")
    return {"features": len(features)}


def case_cytoplan_median(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    import polars as pl

    from cytoplan.ops.aggregate import aggregate

    result = aggregate(pl.scan_parquet(path), method="median", memory_limit=args.memory_limit)
    result.collect().write_parquet(out)
    return {"memory_limit": args.memory_limit}


def case_cytoplan_median_fixed_reserve(
    path: str, out: str, args: argparse.Namespace
) -> dict[str, object]:
    """The median with the block budget of before 2026-11-24: the limit less a fixed
    256 MiB, whatever the process holds (Polars' parsed footer included)."""
    from cytoplan.stats import blocks

    blocks.resident_bytes = lambda: 0  # the budget's floor: 256 MiB set aside
    return case_cytoplan_median(path, out, args)


def case_cytoplan_cli_median(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    """``cytoplan aggregate INPUT OUTPUT --memory-limit ...``, as a user runs it."""
    from cytoplan.cli import main as cli

    command = ["aggregate", path, out, "--memory-limit", args.memory_limit, "--quiet"]
    cli(command, standalone_mode=False)
    return {"memory_limit": args.memory_limit}


def case_cytoplan_mean(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    import polars as pl

    from cytoplan.ops.aggregate import aggregate

    result = aggregate(pl.scan_parquet(path), method="mean", memory_limit=args.memory_limit)
    result.collect().write_parquet(out)
    return {"memory_limit": args.memory_limit}


def case_polars_median(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    import polars as pl

    features = parquet_features(path)
    (
        pl.scan_parquet(path)
        .group_by(STRATA)
        .agg(pl.col(features).median())
        .sort(STRATA)
        .collect(engine="streaming")
        .write_parquet(out)
    )
    return {}


def case_duckdb_median(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    import duckdb

    features = parquet_features(path)
    limit_gb = max(1, int(args.cap * 0.75 / 1e9))
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{limit_gb}GB'")
    con.execute("SET threads=2")
    con.execute(f"SET temp_directory='{tempfile.gettempdir()}/duckdb_tmp_bench'")
    columns = ", ".join(f'median("{f}") AS "{f}"' for f in features)
    keys = ", ".join(f'"{k}"' for k in STRATA)
    query = (
        f"COPY (SELECT {keys}, {columns} FROM read_parquet('{path}') GROUP BY ALL "
        f"ORDER BY {keys}) TO '{out}' (FORMAT parquet)"
    )
    con.execute(query)
    return {"duckdb_memory_limit_gb": limit_gb}


def case_pycytominer_median(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    import warnings

    import pandas as pd
    import pycytominer

    t0 = time.perf_counter()
    df = pd.read_parquet(path)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = pycytominer.aggregate(df, strata=STRATA, features="infer", operation="median")
    t2 = time.perf_counter()
    result.to_parquet(out)
    return {"read_s": round(t1 - t0, 2), "aggregate_s": round(t2 - t1, 2)}


CASES = {name: globals()[f"case_{name}"] for name in ALL_CASES}
BOUNDED = {
    "floor",
    "cytoplan_median",
    "cytoplan_median_fixed_reserve",
    "cytoplan_cli_median",
    "cytoplan_mean",
}


# --------------------------------------------------------------------------- driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plate", required=True, type=plate_path)
    parser.add_argument("--label", default="plate")
    parser.add_argument("--memory-limit", default="1GiB")
    parser.add_argument(
        "--cap",
        type=int,
        default=8_000_000_000,
        help="address-space cap (bytes) for pycytominer, DuckDB and naive Polars",
    )
    parser.add_argument(
        "--cap-bounded",
        type=int,
        default=16_000_000_000,
        help="address-space cap for the floor and cytoplan (Polars maps the Parquet file "
        "into its address space, so a tight cap fails on large files; RSS is measured)",
    )
    parser.add_argument("--cases", default=",".join(ALL_CASES))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:  # child process: run one case, print its JSON
        run_child_case(CASES, args.case, args.plate, args.out, args)
        return

    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="cytoplan-bench-agg-"))
    records = []
    outputs: dict[str, str] = {}
    for rep in range(args.repeat):  # interleaved, so that load changes hit every case
        for name in args.cases.split(","):
            out = str(tmp / f"{name}.parquet")
            cmd = [
                sys.executable,
                __file__,
                "--plate",
                args.plate,
                "--memory-limit",
                args.memory_limit,
                "--cap",
                str(args.cap),
                "--case",
                name,
                "--out",
                out,
            ]
            cap = args.cap_bounded if name in BOUNDED else args.cap
            step = run_step(name, cmd, address_space=cap, timeout_s=args.timeout)
            record = {"case": name, "repeat": rep, **case_record(step)}
            outputs[name] = out
            print(json.dumps(record), flush=True)
            records.append(record)
    reference = outputs.get("cytoplan_median")
    agreement = {}
    if reference:
        for name, out in outputs.items():
            if name.endswith("median") and name != "cytoplan_median":
                agreement[name] = max_abs_diff(reference, out, sort_by=STRATA)
    shutil.rmtree(tmp, ignore_errors=True)
    summary = add_floor_ratios(records)
    result = {
        "benchmark": "aggregate",
        "label": args.label,
        "plate": Path(args.plate).name,  # no machine path in benchmarks/results/
        "memory_limit": args.memory_limit,
        "cap_bytes": args.cap,
        "cap_bounded_bytes": args.cap_bounded,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "note": "shared machine: timings are noisy",
        "max_abs_diff_vs_cytoplan_median": agreement,
        "runs": summary,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    target = RESULTS / f"aggregate_{args.label}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {target}")
    for record in summary:
        print(
            f"{record['case']:<20} {record['wall_s']:>8} s (cpu {record['cpu_s']:>6} s) "
            f"{record['peak_rss_gib']:>7} GiB "
            f"x{record['wall_vs_floor']} floor  {str(record['status'])[:60]}"
        )
    print("agreement (max abs diff vs cytoplan median):", agreement)


if __name__ == "__main__":
    main()
