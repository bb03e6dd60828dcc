"""Remote reads from a local S3 server: bytes transferred and time, lazy scan vs download-then-read.

Serves a synthetic 3,000-feature single-cell plate (merged Parquet, and the
same plate as a cytominer-database SQLite file) from moto's S3 on 127.0.0.1
(:class:`cytoplan.testing.s3.LocalS3Server`, which counts the body bytes of
every response) and measures:

Parquet
  * ``lazy 10 columns``: ``scan_profiles(url).select(10 columns).collect()``;
  * ``lazy 10 columns, 1 well``: the same with ``filter(Metadata_Well == ...)``;
  * ``download + read``: s3fs downloads the file, then ``pl.read_parquet(columns=...)``.

SQLite
  * ``ranged: tables + image count``: apsw over ranged reads (``_remote_sqlite``);
  * ``ranged: tables, columns, rows``: ``sqlite_tables`` (schema and ``max(rowid)``);
  * ``ranged: 10 columns of Cells``: the same route for a column subset of a
    whole object table (SQLite is a row store: every page of the table is read);
  * ``download + read``: ``scan_cellprofiler_sqlite(url)`` with an empty cache
    (one download, then the local reader);
  * ``cached + read``: the same with the cache filled (one HEAD request).

Times are loopback times: no network latency, but moto copies the whole object
for every ranged GET, so many small requests on a large object are slow here
and a single large download is comparatively fast. The bytes and request
counts are the figures that carry over to S3; ``model`` adds them up for a
link of 30 ms per request (sequential, an upper bound) and 100 MB/s. Each step
runs ``--repeat`` times; the median is reported. Bytes are counted by the
server as it writes response bodies (a client that hangs up early is charged
only for the chunks written in full).

Usage::

    prlimit --as=12000000000 python benchmarks/s3.py \\
        [--wells 96 --sites 2 --cells 50] [--json benchmarks/results/s3.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from cytoplan.io import _remote_sqlite
from cytoplan.io.profiles import scan_profiles
from cytoplan.io.remote import filesystem
from cytoplan.io.sqlite import scan_cellprofiler_sqlite
from cytoplan.testing.s3 import LocalS3Server
from cytoplan.testing.synthetic import PlateSpec, write_merged_parquet, write_sqlite

BUCKET = "cellpainting-gallery"
MB = 1e6
#: A simple model of a remote link, for the "model" column: each request costs a
#: round trip (sequential, an upper bound: clients overlap some), bytes stream at
#: the bandwidth. Loopback times from moto are dominated by moto's per-request cost.
LATENCY_S = 0.03
BANDWIDTH_BPS = 100e6


def measure(
    server: LocalS3Server,
    name: str,
    step: Callable[[], Any],
    repeat: int,
    *,
    setup: Callable[[], None] | None = None,
) -> dict[str, Any]:
    times, served, requests = [], [], []
    for _ in range(repeat):
        if setup is not None:
            setup()
        server.reset_log()
        start = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - start)
        log = server.requests
        served.append(sum(r.body_bytes for r in log if r.method == "GET"))
        requests.append(len(log))
        del result
    row = {
        "step": name,
        "seconds": statistics.median(times),
        "bytes": int(statistics.median(served)),
        "requests": int(statistics.median(requests)),
        "log": [[r.method, r.status, r.range, r.body_bytes] for r in log],
    }
    row["model_seconds"] = row["requests"] * LATENCY_S + row["bytes"] / BANDWIDTH_BPS
    print(
        f"  {name:<34} {row['seconds']:8.3f} s {row['bytes'] / MB:10.2f} MB {row['requests']:6d} requests"
        f"   model {row['model_seconds']:7.2f} s",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wells", type=int, default=96)
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--cells", type=int, default=50, help="cells per site")
    parser.add_argument("--features", type=int, default=1000, help="features per compartment (x3)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="cytoplan-s3-bench-"))
    os.environ["CYTOPLAN_TEMP_DIR"] = str(work)
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> int:
    spec = PlateSpec(
        "BR00000001", wells=args.wells, sites_per_well=args.sites, cells_per_site=args.cells,
        features_per_compartment=args.features,
    )  # fmt: skip
    started = time.perf_counter()
    parquet = write_merged_parquet(spec, work / "BR00000001.parquet")
    sqlite = write_sqlite(spec, work / "BR00000001.sqlite")
    print(f"generated {spec.n_cells:,} cells x {3 * args.features:,} features in "
          f"{time.perf_counter() - started:.1f} s: Parquet {parquet.stat().st_size / MB:.1f} MB, "
          f"SQLite {sqlite.stat().st_size / MB:.1f} MB", flush=True)  # fmt: skip

    schema = pl.read_parquet_schema(parquet)
    features = [c for c in schema if c.startswith("Cells_")][:9]
    wanted = ["Metadata_Well", *features]
    well = spec.wells_list()[0]
    rows: list[dict[str, Any]] = []
    with LocalS3Server() as server:
        server.create_bucket(BUCKET, public=True)
        for path in (parquet, sqlite):
            server.client().upload_file(
                str(path), BUCKET, f"bench/{path.name}", ExtraArgs={"ACL": "public-read"}
            )
        options = {"endpoint_url": server.endpoint}
        pq_url = f"s3://{BUCKET}/bench/{parquet.name}"
        db_url = f"s3://{BUCKET}/bench/{sqlite.name}"
        fs = filesystem(pq_url, options)

        print(
            f"Parquet ({parquet.stat().st_size / MB:.1f} MB, {len(schema):,} columns), 10 columns:"
        )
        rows.append(
            {
                "file": "parquet",
                **measure(
                    server,
                    "lazy 10 columns",
                    lambda: scan_profiles(pq_url, storage_options=options).select(wanted).collect(),
                    args.repeat,
                ),
            }
        )
        rows.append({"file": "parquet", **measure(
            server, "lazy 10 columns, 1 well",
            lambda: scan_profiles(pq_url, storage_options=options).filter(pl.col("Metadata_Well") == well).select(wanted).collect(),
            args.repeat,
        )})  # fmt: skip
        local = work / "download.parquet"

        def download_then_read() -> pl.DataFrame:
            fs.get_file(pq_url, str(local))
            return pl.read_parquet(local, columns=wanted)

        rows.append(
            {
                "file": "parquet",
                **measure(server, "download + read", download_then_read, args.repeat),
            }
        )

        print(f"SQLite ({sqlite.stat().st_size / MB:.1f} MB):")
        rows.append({"file": "sqlite", **measure(
            server, "ranged: tables + image count",
            lambda: _remote_sqlite.ranged_query(db_url, "select (select count(*) from sqlite_master), (select count(*) from Image)", options),
            args.repeat,
        )})  # fmt: skip
        rows.append({"file": "sqlite", **measure(
            server, "ranged: tables, columns, rows",
            lambda: _remote_sqlite.sqlite_tables(db_url, options),
            args.repeat,
        )})  # fmt: skip
        columns_sql = ", ".join(f'"{c}"' for c in _cells_table_columns(sqlite, features))
        rows.append({"file": "sqlite", **measure(
            server, "ranged: 10 columns of Cells",
            lambda: _remote_sqlite.ranged_query(db_url, f"select ObjectNumber, {columns_sql} from Cells", options),
            args.repeat,
        )})  # fmt: skip
        cache = _remote_sqlite.cache_folder()

        def empty_cache() -> None:
            for item in cache.glob("*"):
                item.unlink()

        def scan_sqlite() -> pl.DataFrame:
            return (
                scan_cellprofiler_sqlite(db_url, storage_options=options).select(wanted).collect()
            )

        rows.append(
            {
                "file": "sqlite",
                **measure(
                    server,
                    "download + read (empty cache)",
                    scan_sqlite,
                    args.repeat,
                    setup=empty_cache,
                ),
            }
        )
        rows.append(
            {"file": "sqlite", **measure(server, "cached + read", scan_sqlite, args.repeat)}
        )

    sizes = {"parquet_bytes": parquet.stat().st_size, "sqlite_bytes": sqlite.stat().st_size}
    result = {
        "cells": spec.n_cells,
        "features": 3 * args.features,
        "columns_read": len(wanted),
        **sizes,
        "rows": rows,
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _cells_table_columns(sqlite: Path, merged: list[str]) -> list[str]:
    """The Cells-table names of merged ``Cells_*`` columns (the SQLite keeps the prefix)."""
    import sqlite3

    with sqlite3.connect(sqlite) as con:
        names = [row[1] for row in con.execute("pragma table_info(Cells)")]
    picked = [c for c in merged if c in names]
    return picked or [n for n in names if n.startswith("Cells_")][: len(merged)]


if __name__ == "__main__":
    sys.exit(main())
