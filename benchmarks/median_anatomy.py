"""Benchmark: where a per-well median's time goes, one column block at a time.

``aggregate.py`` times the whole per-well median against the floor; this script takes
one block apart, in one process, to show which costs are Polars' and which are
cytoplan's. On a few sample blocks of the plate (the width ``column_blocks`` gives at
``--memory-limit``), best of ``--repeat``:

* ``polars_read``: ``scan_parquet(...).select(block).collect()``, as cytoplan reads a
  block (one chunk per row group);
* ``arrow_read``: PyArrow's ``ParquetFile.read`` of the same columns, memory-mapped,
  with the footer parsed once (one contiguous chunk per column);
* ``rechunk``: Polars' copy of the block into one chunk per column;
* ``select_chunked`` / ``select_rechunked``: the per-well median cytoplan runs
  (``filter(is_not_nan).quantile(0.5, "midpoint")`` grouped by integer well ids) on
  the block as read and after the rechunk;
* ``count_chunked`` / ``count_rechunked``: only the non-missing count per well, which
  measures what a grouped aggregation costs per group and column before any selection;
* ``one_group_midpoint`` / ``one_group_lower``: the median over all rows as one group
  (mad_robustize's per-plate fit), with NumPy's midpoint and with the lower middle only;
* ``footer_gib``: resident memory added by Polars' and by PyArrow's parsed footer.

Then the whole plate's figures in CPU-seconds (``per_block x blocks``) beside the floor
(one streaming scan of the feature columns), which shows the lowest wall time two cores
allow. Figures are printed and saved as JSON under ``benchmarks/results/``.

Usage::

    python benchmarks/median_anatomy.py --plate L/plate_sc.parquet --label s18
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
from _measure import parquet_features, plate_path

if TYPE_CHECKING:
    import polars as pl

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = ["Metadata_Plate", "Metadata_Well"]


def best_of(repeat: int, work: Callable[[], object]) -> dict[str, float]:
    """Best wall time of ``repeat`` runs of ``work``, with that run's CPU time."""
    best: dict[str, float] = {}
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        work()
        wall = time.perf_counter() - started
        if not best or wall < best["wall_s"]:
            best = {"wall_s": wall, "cpu_s": time.process_time() - cpu}
    return {key: round(value, 4) for key, value in best.items()}


def footer_memory(path: str) -> dict[str, float]:
    """Resident memory added by each library's parsed footer of ``path``, in GiB."""
    import polars as pl
    import pyarrow.parquet as pq

    process = psutil.Process()
    before = process.memory_info().rss
    pl.scan_parquet(path).collect_schema()
    middle = process.memory_info().rss
    pq.read_metadata(path)
    after = process.memory_info().rss
    return {
        "polars": round((middle - before) / 2**30, 3),
        "pyarrow": round((after - middle) / 2**30, 3),
    }


def time_block(
    lf: pl.LazyFrame,
    block: list[str],
    wells: pl.Series,
    arrow_read: Callable[[list[str]], pl.DataFrame],
    repeat: int,
) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """The timings of one block (see the module docstring) and its chunks per column."""
    import polars as pl

    value = pl.col(block)
    present = value.filter(value.is_not_nan())
    median = present.quantile(0.5, "midpoint")
    chunked = lf.select(block).collect().with_columns(wells)
    whole = chunked.rechunk()
    one_group = whole.with_columns(pl.zeros(whole.height, pl.UInt32, eager=True).alias("__well"))
    chunks = {"polars_read": chunked.n_chunks(), "arrow_read": arrow_read(block).n_chunks()}
    work: dict[str, Callable[[], object]] = {
        "polars_read": lambda: lf.select(block).collect(),
        "arrow_read": lambda: arrow_read(block),
        "rechunk": chunked.rechunk,
        "select_chunked": lambda: chunked.group_by("__well").agg(median),
        "select_rechunked": lambda: whole.group_by("__well").agg(median),
        "count_chunked": lambda: chunked.group_by("__well").agg(value.is_not_null().sum()),
        "count_rechunked": lambda: whole.group_by("__well").agg(value.is_not_null().sum()),
        "one_group_midpoint": lambda: one_group.group_by("__well").agg(median),
        "one_group_lower": lambda: one_group.group_by("__well").agg(present.quantile(0.5, "lower")),
    }
    return {name: best_of(repeat, task) for name, task in work.items()}, chunks


def anatomy(path: str, memory_limit: str, n_blocks: int, repeat: int) -> dict[str, object]:
    import polars as pl
    import pyarrow.parquet as pq

    from cytoplan.stats.blocks import column_blocks

    footer = footer_memory(path)
    lf = pl.scan_parquet(path)
    features = parquet_features(path)
    keys = lf.select(KEYS).collect()
    wells = keys.select(pl.struct(KEYS).rle_id()).to_series().cast(pl.UInt32).alias("__well")
    blocks = column_blocks(features, keys.height, memory_limit)
    metadata = pq.read_metadata(path)
    step = max(1, len(blocks) // n_blocks)
    samples = blocks[::step][:n_blocks]

    def arrow_read(block: list[str]) -> pl.DataFrame:
        with pq.ParquetFile(path, memory_map=True, metadata=metadata) as source:
            return pl.from_arrow(source.read(columns=block))  # type: ignore[return-value]

    per_block: dict[str, list[dict[str, float]]] = {}
    chunks: dict[str, int] = {}
    for block in samples:
        timings, chunks = time_block(lf, block, wells, arrow_read, repeat)
        for name, figures in timings.items():
            per_block.setdefault(name, []).append(figures)

    mean_block = {
        name: {key: round(sum(r[key] for r in runs) / len(runs), 4) for key in runs[0]}
        for name, runs in per_block.items()
    }
    floor = best_of(repeat, lambda: lf.select(features).sum().collect(engine="streaming"))
    plate = {
        name: {key: round(value * len(blocks), 2) for key, value in figures.items()}
        for name, figures in mean_block.items()
    }
    return {
        "blocks": len(blocks),
        "block_width": len(blocks[0]),
        "sampled_blocks": len(samples),
        "wells": int(wells.max()) + 1,  # type: ignore[operator]
        "chunks_per_column": chunks,
        "footer_gib": footer,
        "per_block": mean_block,
        "plate_estimate": plate,
        "floor": {key: round(value, 2) for key, value in floor.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plate", required=True, type=plate_path)
    parser.add_argument("--label", default="plate")
    parser.add_argument("--memory-limit", default="1GiB")
    parser.add_argument("--blocks", type=int, default=3, help="sample blocks to time")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import cytoplan  # noqa: F401  (before Polars, as the CLI: metadata pruning)

    result = {
        "benchmark": "median_anatomy",
        "label": args.label,
        "plate": Path(args.plate).name,
        "memory_limit": args.memory_limit,
        "machine": {"cpus": os.cpu_count()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **anatomy(args.plate, args.memory_limit, args.blocks, args.repeat),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"median_anatomy_{args.label}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
