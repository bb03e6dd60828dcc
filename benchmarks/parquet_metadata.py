"""Benchmark: the memory Polars holds for a Parquet file's metadata.

Polars parses a file's footer on the first scan and keeps it (one entry per row group
and column: a column chunk) for later scans. For wide single-cell tables with many
row groups this is memory that no column-block budget can shrink, so it bounds how
low ``memory_limit`` can go. Each case writes a small file (8 rows per row group, so
the data are tiny and the footer is what is measured) with ``--columns`` float
columns named like CellProfiler features and ``--row-groups`` row groups, then, in a
fresh process, measures the resident memory added by ``scan_parquet(f).collect_schema()``
(cytoplan imported first, as the CLI does). Figures are printed and saved as JSON
under ``benchmarks/results/``; nothing passes or fails.

``--write-plate PATH --cases COLUMNSxROW_GROUPS --rows-per-group N`` writes one such
file as a single-cell plate instead (``Metadata_Plate``, ``Metadata_Well``: one well per
row group), for ``aggregate.py``'s ``cytoplan_median_fixed_reserve`` case, which shows
what the footer does to a column-block budget that ignores it.

Usage::

    python benchmarks/parquet_metadata.py --label s11 --cases 3020x116,3020x74,6000x100,6000x400
    python benchmarks/parquet_metadata.py --write-plate wide/plate_sc.parquet --cases 6000x400 \
        --rows-per-group 128
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

RESULTS = Path(__file__).resolve().parent / "results"
ROWS_PER_GROUP = 8

_CHILD = """
import json, sys
import psutil
import cytoplan  # noqa: F401  (metadata pruning on, as in the CLI)
import polars as pl

process = psutil.Process()
before = process.memory_info().rss
pl.scan_parquet(sys.argv[1]).collect_schema()
after = process.memory_info().rss
print(json.dumps({"added_bytes": after - before}))
"""


def write_plate(path: Path, columns: int, row_groups: int) -> int:
    """A file of ``columns`` float features × ``row_groups`` row groups; its footer size."""
    names = [f"Cells_Intensity_MeanIntensity_Channel{i:05d}" for i in range(columns)]
    rng = np.random.default_rng(0)
    table = pa.table({name: rng.random(ROWS_PER_GROUP) for name in names})
    # as cytoplan.convert writes float features: no dictionary, no statistics
    with pq.ParquetWriter(
        path, table.schema, compression="snappy", use_dictionary=False, write_statistics=False
    ) as writer:
        for _ in range(row_groups):
            writer.write_table(table, row_group_size=ROWS_PER_GROUP)
    return int(pq.ParquetFile(path).metadata.serialized_size)


def write_wide_plate(path: Path, columns: int, row_groups: int, rows_per_group: int) -> int:
    """A single-cell plate of random features, one well per row group; its footer size."""
    names = [f"Cells_Intensity_MeanIntensity_Channel{i:05d}" for i in range(columns)]
    rng = np.random.default_rng(0)
    wells = [f"{row}{col:02d}" for row in "ABCDEFGHIJKLMNOP" for col in range(1, 25)]
    schema = pa.schema(
        [("Metadata_Plate", pa.string()), ("Metadata_Well", pa.string())]
        + [(name, pa.float64()) for name in names]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(
        path, schema, compression="snappy", use_dictionary=False, write_statistics=False
    ) as writer:
        for group in range(row_groups):
            plate, well = divmod(group, len(wells))
            keys = {
                "Metadata_Plate": [f"P{plate}"] * rows_per_group,
                "Metadata_Well": [wells[well]] * rows_per_group,
            }
            values = rng.random((columns, rows_per_group))
            table = pa.table({**keys, **dict(zip(names, values, strict=True))}, schema=schema)
            writer.write_table(table, row_group_size=rows_per_group)
    return int(pq.ParquetFile(path).metadata.serialized_size)


def measure(columns: int, row_groups: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plate.parquet"
        footer = write_plate(path, columns, row_groups)
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True
        )
    added = int(json.loads(done.stdout)["added_bytes"])
    chunks = columns * row_groups
    return {
        "columns": columns,
        "row_groups": row_groups,
        "column_chunks": chunks,
        "footer_mb": round(footer / 1e6, 1),
        "resident_mib": round(added / 2**20),
        "bytes_per_chunk": round(added / chunks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="local")
    parser.add_argument(
        "--cases",
        default="3020x116,3020x74,6000x100,6000x400",
        help="COLUMNSxROW_GROUPS, comma-separated",
    )
    parser.add_argument("--write-plate", type=Path, help="write one case as a plate here")
    parser.add_argument("--rows-per-group", type=int, default=128)
    args = parser.parse_args()
    if args.write_plate:
        columns, row_groups = (int(part) for part in args.cases.split(",")[0].split("x"))
        footer = write_wide_plate(args.write_plate, columns, row_groups, args.rows_per_group)
        print(
            f"wrote {args.write_plate}: {row_groups * args.rows_per_group:,} rows x "
            f"{columns} features in {row_groups} row groups, footer {footer / 1e6:.1f} MB"
        )
        return
    records = []
    for case in args.cases.split(","):
        columns, row_groups = (int(part) for part in case.split("x"))
        record = measure(columns, row_groups)
        records.append(record)
        print(
            f"{columns:>6} columns x {row_groups:>4} row groups = {record['column_chunks']:>9,} "
            f"chunks: footer {record['footer_mb']:>6} MB, resident {record['resident_mib']:>5} MiB "
            f"({record['bytes_per_chunk']} B per chunk)"
        )
    out = RESULTS / f"parquet_metadata_{args.label}.json"
    out.write_text(json.dumps({"benchmark": "parquet_metadata", "runs": records}, indent=2) + "\n")
    print(f"wrote {out.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
