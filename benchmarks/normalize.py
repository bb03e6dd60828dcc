"""Benchmark: per-plate normalization of a single-cell Parquet plate, written to Parquet.

Each measured thing runs in its own subprocess (``_measure.run_step``: the process
tree's RSS polled every 50 ms with psutil, wall time and peak RSS), killed if its RSS
passes ``--rss-limit`` (the machine is shared). pandas and DuckDB also run under an
address-space cap (``prlimit --as``); Polars cannot, as it memory-maps the file.
Nothing passes or fails on time: figures (and their ratio to the floor) are printed
and saved as JSON under ``benchmarks/results/``.

Cases (all on the same file; statistics per ``Metadata_Plate`` on every cell):

* ``floor``                 two streaming scans of the feature columns + one streaming
                            copy of the file to Parquet (8,192-row groups): the least
                            any fit-then-apply job must do;
* ``cytoplan_mad_robustize`` ``MADRobustize().fit(lf, by=plate)`` (medians and MADs in
                            column blocks, ``--memory-limit``) + ``transform`` +
                            ``sink_parquet(row_group_size=--row-group-size)``;
* ``cytoplan_cli_mad_robustize`` ``cytoplan normalize --method mad_robustize --by
                            Metadata_Plate --memory-limit ...``, as a user runs it;
* ``cytoplan_standardize``  the same with ``Standardize`` (one streaming aggregation);
* ``polars_mad_robustize``  naive Polars: ``group_by(plate).agg(median)``, then
                            ``group_by(plate).agg((x - median).abs().median())`` on the
                            joined medians, then the join + expressions + sink (streaming
                            engine everywhere);
* ``duckdb_mad_robustize``  the same three queries in DuckDB (memory limit = 3/4 cap);
* ``pycytominer_mad_robustize`` ``pd.read_parquet`` + ``pycytominer.normalize(method=
                            "mad_robustize")`` + ``to_parquet`` (expected to die at L);
* ``parity_sample``         not timed: cytoplan and pycytominer (mad_robustize,
                            standardize, robustize) on the first 200 features of every
                            cell, max abs difference and share of identical values.

After the runs the parent compares the outputs with cytoplan's on a sample of
columns (max abs difference) and deletes them.

Usage::

    python benchmarks/normalize.py --plate L/plate_sc.parquet \\
        --label L --memory-limit 2GiB --cap 8000000000 \\
        --cases floor,cytoplan_mad_robustize,cytoplan_standardize,polars_mad_robustize

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
    GIB,
    add_floor_ratios,
    case_record,
    max_abs_diff,
    parquet_features,
    plate_path,
    run_child_case,
    run_step,
)

RESULTS = HERE / "results"
BY = "Metadata_Plate"
ALL_CASES = [
    "floor",
    "cytoplan_mad_robustize",
    "cytoplan_cli_mad_robustize",
    "cytoplan_standardize",
    "polars_mad_robustize",
    "duckdb_mad_robustize",
    "pycytominer_mad_robustize",
]
COMPARED_COLUMNS = 200
CAPPED = {"duckdb_mad_robustize", "pycytominer_mad_robustize"}


# --------------------------------------------------------------------------- cases


def case_floor(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    import polars as pl

    features = parquet_features(path)
    times = {}
    for step in ("scan_1", "scan_2"):
        t0 = time.perf_counter()
        pl.scan_parquet(path).select(features).sum().collect(engine="streaming")
        times[step] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    pl.scan_parquet(path).sink_parquet(out, row_group_size=8192)
    times["copy"] = round(time.perf_counter() - t0, 2)
    return {"features": len(features), "steps_s": times}


def _cytoplan(path: str, out: str, args: argparse.Namespace, method: str) -> dict[str, object]:
    import polars as pl

    from cytoplan.ops.normalize import make_normalizer

    lf = pl.scan_parquet(path)
    t0 = time.perf_counter()
    normalizer = make_normalizer(method, memory_limit=args.memory_limit)
    normalizer.fit(lf, by=BY)
    t1 = time.perf_counter()
    fit_peak = _own_peak_gib()
    normalizer.transform(lf).sink_parquet(out, row_group_size=args.row_group_size)
    t2 = time.perf_counter()
    return {
        "memory_limit": args.memory_limit,
        "row_group_size": args.row_group_size,
        "steps_s": {"fit": round(t1 - t0, 2), "transform_write": round(t2 - t1, 2)},
        "fit_peak_rss_gib": fit_peak,
    }


def _own_peak_gib() -> float:
    """This process's peak resident set so far (the fit's, when called after it)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30, 3)


def case_cytoplan_mad_robustize(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    return _cytoplan(path, out, args, "mad_robustize")


def case_cytoplan_cli_mad_robustize(
    path: str, out: str, args: argparse.Namespace
) -> dict[str, object]:
    """``cytoplan normalize`` as a user runs it (its own default row groups)."""
    from cytoplan.cli import main as cli

    t0 = time.perf_counter()
    command = ["normalize", path, out, "--method", "mad_robustize", "--by", BY]
    cli([*command, "--memory-limit", args.memory_limit, "--quiet"], standalone_mode=False)
    return {
        "memory_limit": args.memory_limit,
        "steps_s": {"cli": round(time.perf_counter() - t0, 2)},
    }


def case_cytoplan_standardize(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    return _cytoplan(path, out, args, "standardize")


def case_polars_mad_robustize(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    import polars as pl

    features = parquet_features(path)
    lf = pl.scan_parquet(path)
    t0 = time.perf_counter()
    medians = lf.group_by(BY).agg(pl.col(features).median()).collect(engine="streaming")
    t1 = time.perf_counter()
    centred = lf.join(medians.lazy(), on=BY, suffix="__median")
    mads = (
        centred.group_by(BY)
        .agg((pl.col(f) - pl.col(f"{f}__median")).abs().median().alias(f) for f in features)
        .collect(engine="streaming")
    )
    t2 = time.perf_counter()
    scale = mads.select(BY, *((pl.col(f) * 1.4826 + 1e-18).alias(f) for f in features))
    stats = medians.join(scale, on=BY, suffix="__scale")
    (
        lf.join(stats.lazy(), on=BY, suffix="__median", maintain_order="left")
        .with_columns(
            ((pl.col(f) - pl.col(f"{f}__median")) / pl.col(f"{f}__scale")).alias(f)
            for f in features
        )
        .select(lf.collect_schema().names())
        .sink_parquet(out, row_group_size=8192)
    )
    t3 = time.perf_counter()
    return {
        "steps_s": {
            "median": round(t1 - t0, 2),
            "mad": round(t2 - t1, 2),
            "apply_write": round(t3 - t2, 2),
        }
    }


def case_duckdb_mad_robustize(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    import duckdb

    features = parquet_features(path)
    limit_gb = max(1, int(args.cap * 0.75 / 1e9))
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{limit_gb}GB'")
    con.execute("SET threads=2")
    con.execute(f"SET temp_directory='{tempfile.gettempdir()}/duckdb_tmp_bench_norm'")
    t0 = time.perf_counter()
    medians = ", ".join(f'median("{f}") AS "{f}"' for f in features)
    con.execute(
        f"CREATE TEMP TABLE med AS SELECT \"{BY}\", {medians} FROM read_parquet('{path}') "
        "GROUP BY ALL"
    )
    t1 = time.perf_counter()
    mads = ", ".join(f'median(abs(p."{f}" - m."{f}")) * 1.4826 + 1e-18 AS "{f}"' for f in features)
    con.execute(
        f"CREATE TEMP TABLE mad AS SELECT p.\"{BY}\", {mads} FROM read_parquet('{path}') p "
        f'JOIN med m USING ("{BY}") GROUP BY ALL'
    )
    t2 = time.perf_counter()
    import polars as pl

    names = pl.scan_parquet(path).collect_schema().names()
    wanted = set(features)
    select = ", ".join(
        f'(p."{c}" - m."{c}") / s."{c}" AS "{c}"' if c in wanted else f'p."{c}"' for c in names
    )
    con.execute(
        f"COPY (SELECT {select} FROM read_parquet('{path}') p JOIN med m USING (\"{BY}\") "
        f"JOIN mad s USING (\"{BY}\")) TO '{out}' (FORMAT parquet)"
    )
    t3 = time.perf_counter()
    return {
        "duckdb_memory_limit_gb": limit_gb,
        "steps_s": {
            "median": round(t1 - t0, 2),
            "mad": round(t2 - t1, 2),
            "apply_write": round(t3 - t2, 2),
        },
    }


def case_pycytominer_mad_robustize(
    path: str, out: str, args: argparse.Namespace
) -> dict[str, object]:
    import warnings

    import pandas as pd
    import pycytominer

    t0 = time.perf_counter()
    df = pd.read_parquet(path)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = pycytominer.normalize(df, features="infer", method="mad_robustize")
    t2 = time.perf_counter()
    result.to_parquet(out)
    t3 = time.perf_counter()
    return {
        "steps_s": {
            "read": round(t1 - t0, 2),
            "normalize": round(t2 - t1, 2),
            "write": round(t3 - t2, 2),
        }
    }


def case_parity_sample(path: str, out: str, args: argparse.Namespace) -> dict[str, object]:
    """Not timed: cytoplan vs pycytominer on the first features of the plate, all cells."""
    import warnings

    import numpy as np
    import polars as pl
    import pycytominer

    from cytoplan.ops.normalize import normalize

    features = parquet_features(path)[:COMPARED_COLUMNS]
    lf = pl.scan_parquet(path).select(BY, *features)
    pdf = lf.collect().to_pandas()
    result: dict[str, object] = {"features": len(features), "cells": len(pdf)}
    for method in ("mad_robustize", "standardize", "robustize"):
        ours = normalize(lf, method=method, by=BY).collect().select(features).to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = pycytominer.normalize(
                pdf, features=features, meta_features=[BY], method=method
            )
        expected = theirs[features].to_numpy(dtype=np.float64)
        both_nan = np.isnan(ours) & np.isnan(expected)
        diff = np.where(both_nan, 0.0, np.abs(ours - expected))
        result[f"{method}_max_abs_diff"] = float(np.max(diff))
        result[f"{method}_identical_values"] = float(np.mean(diff == 0))
    return result


ALL_CASES.append("parity_sample")
CASES = {name: globals()[f"case_{name}"] for name in ALL_CASES}


# --------------------------------------------------------------------------- driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plate", required=True, type=plate_path)
    parser.add_argument("--label", default="plate")
    parser.add_argument("--memory-limit", default="2GiB")
    parser.add_argument("--row-group-size", type=int, default=8192)
    parser.add_argument(
        "--cap", type=int, default=8_000_000_000, help="address-space cap (pandas, DuckDB)"
    )
    parser.add_argument(
        "--rss-limit", type=float, default=7.0, help="kill a case above this RSS (GiB)"
    )
    parser.add_argument("--cases", default=",".join(ALL_CASES))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep", action="store_true", help="keep the output files")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:  # child process: run one case, print its JSON
        run_child_case(CASES, args.case, args.plate, args.out, args)
        return

    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="cytoplan-bench-norm-"))
    records = []
    outputs: dict[str, str] = {}
    for name in args.cases.split(","):
        for rep in range(args.repeat):
            out = str(tmp / f"{name}.parquet")
            cmd = [
                sys.executable,
                __file__,
                "--plate",
                args.plate,
                "--memory-limit",
                args.memory_limit,
                "--row-group-size",
                str(args.row_group_size),
                "--cap",
                str(args.cap),
                "--case",
                name,
                "--out",
                out,
            ]
            # no case starts while the kernel still writes back an earlier case's
            # output (several GB): that slowed whichever case came next by 3-5 s
            os.sync()
            # the address-space cap only for pandas and DuckDB: Polars memory-maps the
            # Parquet file, which counts against it (the RSS watchdog guards every case)
            step = run_step(
                name,
                cmd,
                address_space=args.cap if name in CAPPED else None,
                memory_cap=int(args.rss_limit * GIB),
                timeout_s=args.timeout,
            )
            record = {"case": name, "repeat": rep, **case_record(step, cpu=False)}
            if name == "floor":  # the floor's copy is not compared with anything
                Path(out).unlink(missing_ok=True)
            else:
                outputs[name] = out
            print(json.dumps(record), flush=True)
            records.append(record)
    agreement: dict[str, float | None] = {}
    reference = outputs.get("cytoplan_mad_robustize")
    if reference:
        columns = parquet_features(args.plate)[:COMPARED_COLUMNS]
        for name, out in outputs.items():
            if name.endswith("mad_robustize") and name != "cytoplan_mad_robustize":
                agreement[name] = max_abs_diff(reference, out, columns=columns)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = add_floor_ratios(records)
    result = {
        "benchmark": "normalize",
        "label": args.label,
        "plate": Path(args.plate).name,  # no machine path in benchmarks/results/
        "memory_limit": args.memory_limit,
        "row_group_size": args.row_group_size,
        "cap_bytes": args.cap,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "note": "shared machine: timings are noisy",
        f"max_abs_diff_vs_cytoplan_first_{COMPARED_COLUMNS}_features": agreement,
        "runs": summary,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    target = RESULTS / f"normalize_{args.label}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {target}")
    for record in summary:
        print(
            f"{record['case']:<28} {record['wall_s']:>8} s {record['peak_rss_gib']:>7} GiB "
            f"x{record['wall_vs_floor']} floor  {str(record['status'])[:60]}"
        )
    print("agreement (max abs diff vs cytoplan mad_robustize):", agreement)


if __name__ == "__main__":
    main()
