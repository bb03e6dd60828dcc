"""Ingest benchmark: CellProfiler SQLite → merged single cells in Parquet.

One run generates a synthetic ExportToDatabase plate with the project's
generator, then measures each step in its own process (wall time, CPU time,
peak RSS of the process tree; see ``_measure.py``):

* ``floor`` — the SQLite decoding floor: the ``sqlite3`` shell summing every
  feature column of ``Per_Cells`` and ``Per_Cytoplasm`` in parallel, then of
  ``Per_Nuclei`` (every value decoded once; nothing written);
* ``cytoplan`` — ``cytoplan.convert(plate, out.parquet)``;
* ``pycytominer`` — ``SingleCells(...).merge_single_cells()`` + ``to_parquet``
  (pycytominer 1.7.1; under ``prlimit --as`` and an RSS watchdog);
* ``polars_whole`` — a hand-written query: each table read whole (ADBC, Arrow),
  joined with Polars, written with ``write_parquet``;
* ``duckdb_155`` — DuckDB 1.5.5 with the PyPI sqlite-scanner wheel (a separate
  venv, ``--duckdb-python``): ``COPY (SELECT ... JOIN ...) TO 'out.parquet'``.

``--readers`` adds a comparison of SQLite readers on one table.

Commands (the figures in docs/ingest.md come from these)::

    python benchmarks/ingest.py                     # 100k cells x 600 features/compartment
    python benchmarks/ingest.py --large             # 300k cells x 1,000 features/compartment
    python benchmarks/ingest.py --readers           # also compare SQLite readers

Results are printed (wall time also as a ratio to the floor) and saved to
``benchmarks/results/ingest-<label>.{json,md}`` (``--label``, default the scale);
commands there name files relative to ``--data``, never absolute paths.
Data live in ``--data`` (default ``ingest`` under ``_measure.BENCH_DATA``) and are deleted
at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _measure import (  # noqa: E402
    BENCH_DATA,
    GIB,
    StepResult,
    machine_load,
    run_step,
    scrub_paths,
    write_results,
)

SCALES = {
    # name: (wells, sites per well, cells per site, features per compartment)
    "M": (96, 9, 116, 600),
    "L": (384, 9, 87, 1000),
}
COMPARTMENTS = ("Per_Cells", "Per_Cytoplasm", "Per_Nuclei")
EXPORT_ARGS = {
    "merge_cols": ["ImageNumber"],
    "image_cols": ["ImageNumber", "Image_Metadata_Site"],
    "strata": ["Image_Metadata_Plate", "Image_Metadata_Well"],
}


# ----------------------------------------------------------------------------- steps (run in
# their own process: ``python ingest.py _step NAME PLATE OUT``)


def _step_cytoplan(plate: str, out: str) -> None:
    from cytoplan import convert

    report = convert(plate, out, progress=False)
    print(json.dumps({"rows": report.rows, "columns": report.columns, "bytes": report.bytes}))


def _step_pycytominer(plate: str, out: str) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    from pycytominer.cyto_utils.cells import SingleCells

    cells = SingleCells(sql_file=f"sqlite:///{plate}", **EXPORT_ARGS)  # type: ignore[arg-type]
    frame = cells.merge_single_cells()
    frame.to_parquet(out, compression="snappy")
    print(json.dumps({"rows": len(frame), "columns": frame.shape[1]}))


def _text_nan_column() -> str:
    """The feature column where the generator stores a few TEXT 'nan' values (Per_Cells)."""
    from cytoplan.testing._generate import TEXT_NAN_COLUMN
    from cytoplan.testing._names import feature_names

    return feature_names("Cells", TEXT_NAN_COLUMN + 1)[TEXT_NAN_COLUMN]


def _read_whole(plate: str, table: str):
    import adbc_driver_sqlite.dbapi as dbapi
    import polars as pl

    con = dbapi.connect(f"file:{plate}?mode=ro")
    cur = con.cursor()
    cur.execute(f"PRAGMA mmap_size={os.path.getsize(plate)}")
    cur.fetchall()
    cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "1000000"})
    # the generator's TEXT 'nan' would make ADBC fail or read that column as text
    dirty = _text_nan_column()
    columns = [r[1] for r in sqlite3.connect(plate).execute(f"PRAGMA table_info({table})")]
    items = [
        f'CASE WHEN typeof("{c}") = \'text\' THEN NULL ELSE "{c}" END AS "{c}"'
        if c == dirty
        else f'"{c}"'
        for c in columns
    ]
    cur.execute(f"SELECT {', '.join(items)} FROM {table}")
    frame = pl.from_arrow(cur.fetch_arrow_table())
    cur.close()
    con.close()
    return frame


def _step_polars_whole(plate: str, out: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import polars as pl

    with ThreadPoolExecutor(3) as pool:
        cells, cyto, nuclei = pool.map(lambda t: _read_whole(plate, t), COMPARTMENTS)
    image = pl.read_database(
        "SELECT ImageNumber, Image_Metadata_Plate, Image_Metadata_Well, Image_Metadata_Site "
        "FROM Per_Image",
        sqlite3.connect(plate),
    )
    merged = (
        cyto.rename({"ObjectNumber": "ObjectNumber_cytoplasm"})
        .join(
            cells.rename({"ObjectNumber": "ObjectNumber_cells"}),
            left_on=["ImageNumber", "Cytoplasm_Parent_Cells"],
            right_on=["ImageNumber", "ObjectNumber_cells"],
            maintain_order="left",
        )
        .join(
            nuclei,
            left_on=["ImageNumber", "Cytoplasm_Parent_Nuclei"],
            right_on=["ImageNumber", "ObjectNumber"],
            maintain_order="left",
        )
    )
    merged = image.join(merged, on="ImageNumber", how="right")
    merged.write_parquet(out, compression="snappy")
    print(json.dumps({"rows": merged.height, "columns": merged.width}))


DUCKDB_SQL = """
COPY (
  SELECT i.ImageNumber, i.Image_Metadata_Plate, i.Image_Metadata_Site, i.Image_Metadata_Well,
         cy.* EXCLUDE (ImageNumber), ce.* EXCLUDE (ImageNumber), nu.* EXCLUDE (ImageNumber)
  FROM p.Per_Cytoplasm cy
  JOIN p.Per_Cells ce ON ce.ImageNumber = cy.ImageNumber AND ce.ObjectNumber = cy.Cytoplasm_Parent_Cells
  JOIN p.Per_Nuclei nu ON nu.ImageNumber = cy.ImageNumber AND nu.ObjectNumber = cy.Cytoplasm_Parent_Nuclei
  LEFT JOIN p.Per_Image i ON i.ImageNumber = cy.ImageNumber
) TO '{out}' (FORMAT parquet, COMPRESSION snappy)
"""


def _sqlite_scanner() -> str:
    """The sqlite_scanner extension file of the PyPI wheel next to ``duckdb``."""
    import duckdb

    pattern = os.path.join(
        os.path.dirname(duckdb.__file__),
        "..",
        "duckdb_extension_sqlite_scanner",
        "extensions",
        "*",
        "sqlite_scanner.duckdb_extension",
    )
    return glob.glob(pattern)[0]


def _step_duckdb(plate: str, out: str) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(f"LOAD '{_sqlite_scanner()}'")
    con.execute("SET threads = 2")
    con.execute(f"SET temp_directory = '{os.path.dirname(out)}/duckdb_tmp'")
    con.execute("SET sqlite_all_varchar = false")
    con.execute(f"ATTACH '{plate}' AS p (TYPE sqlite, READ_ONLY)")
    con.execute(DUCKDB_SQL.format(out=out))
    print(json.dumps({"rows": con.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0]}))


def _reader_sqlite3(plate: str, table: str) -> int:
    con = sqlite3.connect(f"file:{plate}?mode=ro", uri=True)
    cur = con.execute(f"SELECT * FROM {table}")
    rows = 0
    while batch := cur.fetchmany(4096):
        rows += len(batch)
    return rows


def _reader_adbc(plate: str, table: str, *, mmap: bool) -> int:
    import adbc_driver_sqlite.dbapi as dbapi

    con = dbapi.connect(f"file:{plate}?mode=ro")
    cur = con.cursor()
    if mmap:
        cur.execute(f"PRAGMA mmap_size={os.path.getsize(plate)}")
        cur.fetchall()
    cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "8192"})
    cur.execute(f"SELECT * FROM {table}")
    rows = sum(batch.num_rows for batch in cur.fetch_record_batch())
    cur.close()
    con.close()
    return rows


def _reader_cytoplan(plate: str, table: str) -> int:
    import polars as pl

    from cytoplan.io._sqlite_catalog import read_catalogue, read_only_uri
    from cytoplan.io._sqlite_fetch import ColumnRead, TableReader

    info = read_catalogue(plate)[table]
    reads = [ColumnRead(c, c, "float") for c in info.columns]
    reader = TableReader(read_only_uri(plate), info, plate, mmap_bytes=os.path.getsize(plate))
    (total,) = sqlite3.connect(plate).execute(f"SELECT max(rowid) FROM {table}").fetchone()
    rows = 0
    for lo in range(1, total + 1, 8192):
        frame: pl.DataFrame = reader.read(
            reads, rows=8192, where_sql=f"WHERE rowid BETWEEN {lo} AND {lo + 8191}"
        )
        rows += frame.height
    return rows


def _reader_decoder(plate: str, table: str) -> int:
    import numpy as np

    from cytoplan.io._sqlite_catalog import read_catalogue
    from cytoplan.io._sqlite_records import open_record_reader

    info = read_catalogue(plate)[table]
    columns = [c for c in info.columns if c not in ("ImageNumber", "ObjectNumber")]
    reader = open_record_reader(plate, info)
    assert reader is not None
    (total,) = sqlite3.connect(plate).execute(f"SELECT max(rowid) FROM {table}").fetchone()
    rows = 0
    for lo in range(1, total + 1, 8192):
        frame = reader.read(np.arange(lo, min(lo + 8192, total + 1)), columns, columns, "rid")
        assert frame is not None
        rows += frame.height
    return rows


def _reader_duckdb(plate: str, table: str) -> int:
    import duckdb

    con = duckdb.connect()
    con.execute(f"LOAD '{_sqlite_scanner()}'")
    con.execute("SET threads = 1")
    reader = con.execute(f"SELECT * FROM sqlite_scan('{plate}', '{table}')").fetch_record_batch(
        8192
    )
    return sum(batch.num_rows for batch in reader)


def _reader_connectorx(plate: str, table: str) -> int:
    import connectorx as cx

    return cx.read_sql(f"sqlite://{plate}", f"SELECT * FROM {table}", return_type="arrow").num_rows


READERS = {
    "sqlite3 (stdlib, fetchmany)": ("_reader_sqlite3", "main"),
    "ADBC SQLite driver 1.13": ("_reader_adbc", "main"),
    "ADBC SQLite driver 1.13 + mmap": ("_reader_adbc_mmap", "main"),
    "cytoplan TableReader (ADBC, mmap per slice)": ("_reader_cytoplan", "main"),
    "cytoplan page decoder (NumPy, pread)": ("_reader_decoder", "main"),
    "DuckDB 1.5.5 sqlite_scan (1 thread)": ("_reader_duckdb", "bench"),
    "connectorx 0.4.6": ("_reader_connectorx", "bench"),
}


def _run_internal(argv: list[str]) -> None:
    kind, name, plate, out = argv
    if kind == "_step":
        {
            "cytoplan": _step_cytoplan,
            "pycytominer": _step_pycytominer,
            "polars_whole": _step_polars_whole,
            "duckdb_155": _step_duckdb,
        }[name](plate, out)
        return
    started = time.perf_counter()
    table = out
    if name == "_reader_adbc_mmap":
        rows = _reader_adbc(plate, table, mmap=True)
    elif name == "_reader_adbc":
        rows = _reader_adbc(plate, table, mmap=False)
    else:
        rows = globals()[name](plate, table)
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started}))


# ----------------------------------------------------------------------------- driver


def _floor_script(plate: Path, folder: Path) -> list[str]:
    con = sqlite3.connect(plate)
    paths = {}
    for table in COMPARTMENTS:
        columns = [
            r[1]
            for r in con.execute(f"PRAGMA table_info({table})")
            if r[1] not in ("ImageNumber", "ObjectNumber")
        ]
        sql = "SELECT " + ", ".join(f'sum("{c}")' for c in columns) + f" FROM {table};\n"
        path = folder / f"floor_{table}.sql"
        path.write_text(sql)
        paths[table] = path
    con.close()
    script = (
        f"(sqlite3 {plate} < {paths['Per_Cells']} > /dev/null & "
        f"sqlite3 {plate} < {paths['Per_Cytoplasm']} > /dev/null & wait) && "
        f"sqlite3 {plate} < {paths['Per_Nuclei']} > /dev/null"
    )
    return ["bash", "-c", script]


def _add_views(plate: Path) -> None:
    con = sqlite3.connect(plate)
    for name in ("image", "cells", "cytoplasm", "nuclei"):
        con.execute(f"CREATE VIEW IF NOT EXISTS {name} AS SELECT * FROM Per_{name.capitalize()}")
    con.commit()
    con.close()


def _null_text_nan(plate: Path):
    """DuckDB's scanner refuses TEXT in a REAL column: NULL those cells, return an undo."""
    column = _text_nan_column()
    con = sqlite3.connect(plate)
    rowids = [r[0] for r in con.execute(
        f'SELECT rowid FROM Per_Cells WHERE typeof("{column}") = \'text\''
    )]  # fmt: skip
    con.executemany(
        f'UPDATE Per_Cells SET "{column}" = NULL WHERE rowid = ?', [(r,) for r in rowids]
    )
    con.commit()
    con.close()

    def restore() -> None:
        again = sqlite3.connect(plate)
        again.executemany(
            f"UPDATE Per_Cells SET \"{column}\" = 'nan' WHERE rowid = ?", [(r,) for r in rowids]
        )
        again.commit()
        again.close()

    return restore


def _parquet_shape(path: Path) -> str:
    if not path.exists():
        return "-"
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as err:  # a failed step may leave a broken file
        return f"unreadable ({err})"
    return f"{meta.num_rows} x {meta.num_columns}, {path.stat().st_size / 1e9:.2f} GB"


def _ratio(result: StepResult, floor: StepResult) -> str:
    """Wall time as a multiple of the floor's ("-" unless both ran to the end)."""
    if result.status != "ok" or floor.status != "ok" or not floor.wall_s:
        return "-"
    return f"{result.wall_s / floor.wall_s:.2f}"


def _table(results: list[StepResult], floor: StepResult | None) -> str:
    lines = [
        "| step | wall s | CPU s | peak RSS GiB | wall / floor | status | output |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        ratio = _ratio(r, floor) if floor else "-"
        if "paired_ratios" in r.extra:
            ratio += f" (pairs: {', '.join(str(x) for x in r.extra['paired_ratios'])})"
        lines.append(
            f"| {r.name} | {r.wall_s:.1f} | {r.cpu_s:.1f} | {r.peak_rss_gib:.2f} | {ratio} | "
            f"{r.status} | {r.extra.get('output', '')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("_step", "_reader"):
        _run_internal(args)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", action="store_true", help="300k cells x 1,000 features")
    parser.add_argument("--data", default=str(BENCH_DATA / "ingest"))
    parser.add_argument("--keep", action="store_true", help="keep the generated plate")
    parser.add_argument("--reuse", action="store_true", help="reuse a plate already generated")
    parser.add_argument("--readers", action="store_true", help="compare SQLite readers")
    parser.add_argument("--skip", default="", help="comma-separated steps to skip")
    parser.add_argument("--repeat", type=int, default=2, help="floor/cytoplan pairs to run")
    parser.add_argument("--cap-gib", type=float, default=8.0, help="memory cap per step")
    parser.add_argument("--label", help="results file name: ingest-<label> (default: the scale)")
    parser.add_argument(
        "--duckdb-python",
        default=os.environ.get("CYTOPLAN_BENCH_DUCKDB_PYTHON", ""),
        help="python of a venv with duckdb==1.5.5 + duckdb-extension-sqlite-scanner==1.5.5 "
        "(default $CYTOPLAN_BENCH_DUCKDB_PYTHON; skipped when not given)",
    )
    options = parser.parse_args(args)
    scale = "L" if options.large else "M"
    wells, sites, cells, features = SCALES[scale]
    data = Path(options.data)
    data.mkdir(parents=True, exist_ok=True)
    plate = data / f"{scale}.sqlite"
    cap = int(options.cap_gib * GIB)
    skip = set(filter(None, options.skip.split(",")))
    results: list[StepResult] = []
    me = [sys.executable, str(Path(__file__).resolve())]

    if not (options.reuse and plate.exists()):
        gen = run_step(
            "generate plate",
            [
                sys.executable, "-m", "cytoplan.testing.synthetic", "--plate", f"BR{scale}",
                "--wells", str(wells), "--sites-per-well", str(sites),
                "--cells-per-site", str(cells), "--features-per-compartment", str(features),
                "--sqlite", str(plate), "--layout", "exporttodatabase",
            ],
        )  # fmt: skip
        gen.extra["output"] = f"{plate.stat().st_size / 1e9:.2f} GB SQLite"
        results.append(gen)
        print(f"generated {plate} in {gen.wall_s:.1f} s", flush=True)
    _add_views(plate)
    warm = ["bash", "-c", f"cat {plate} > /dev/null"]
    # floor and cytoplan alternate, each after re-reading the file into the page cache, so
    # that each pair runs under the same (shared-machine) conditions; best of each reported
    pairs: list[tuple[StepResult, StepResult]] = []
    cyto_out = data / f"{scale}-cytoplan.parquet"
    for rep in range(options.repeat):
        run_step("warm page cache", warm)
        floor_run = run_step("floor (sqlite3 sums)", _floor_script(plate, data))
        run_step("warm page cache", warm)
        cyto_run = run_step(
            "cytoplan convert",
            [*me, "_step", "cytoplan", str(plate), str(cyto_out)],
            memory_cap=cap,
        )
        cyto_run.extra["output"] = _parquet_shape(cyto_out)
        cyto_out.unlink(missing_ok=True)
        pairs.append((floor_run, cyto_run))
        print(
            f"pair {rep + 1}: floor {floor_run.wall_s:.1f} s (cpu {floor_run.cpu_s:.1f}), "
            f"cytoplan {cyto_run.wall_s:.1f} s (cpu {cyto_run.cpu_s:.1f}, "
            f"{cyto_run.peak_rss_gib:.2f} GiB, {cyto_run.status}), "
            f"x{_ratio(cyto_run, floor_run)} floor",
            flush=True,
        )
    floor = min((f for f, _ in pairs), key=lambda r: r.wall_s)
    best = min((c for _, c in pairs), key=lambda r: r.wall_s)
    floor.extra["runs"] = [f.wall_s for f, _ in pairs]
    best.extra["runs"] = [c.wall_s for _, c in pairs]
    best.extra["paired_ratios"] = [round(c.wall_s / f.wall_s, 2) for f, c in pairs]
    best.extra["peak_rss_all_runs"] = max(c.peak_rss_gib for _, c in pairs)
    results += [floor, best]

    steps = [
        ("pycytominer", "pycytominer merge_single_cells + to_parquet", [], cap, sys.executable),
        ("polars_whole", "hand-written: ADBC whole tables + Polars join", [], None, sys.executable),
        (
            "duckdb_155",
            "hand-written: DuckDB 1.5.5 sqlite scanner",
            [],
            None,
            options.duckdb_python,
        ),
    ]
    for key, label, _, address_space, python in steps:
        if key in skip:
            continue
        if key == "duckdb_155" and not (python and Path(python).exists()):
            print(f"skip {key}: {python} not found", flush=True)
            continue
        out = data / f"{scale}-{key}.parquet"
        out.unlink(missing_ok=True)
        run_step("warm page cache", warm)
        restore = _null_text_nan(plate) if key == "duckdb_155" else None
        env = {"PYTHONPATH": str(HERE.parent / "src")} if key == "duckdb_155" else None
        try:
            result = run_step(
                label,
                [python, str(Path(__file__).resolve()), "_step", key, str(plate), str(out)],
                memory_cap=cap,
                address_space=address_space,
                env=env,
            )
            result.extra["output"] = _parquet_shape(out)
        finally:
            if restore is not None:
                restore()
                restore = None
        results.append(result)
        print(
            f"{label}: {result.wall_s:.1f} s, {result.peak_rss_gib:.2f} GiB, {result.status}, "
            f"x{_ratio(result, floor)} floor",
            flush=True,
        )
        out.unlink(missing_ok=True)
        shutil.rmtree(data / "duckdb_tmp", ignore_errors=True)
        if restore is not None:
            restore()

    reader_results: list[StepResult] = []
    if options.readers:
        table = "Per_Cells"
        for label, (name, venv) in READERS.items():
            python = sys.executable if venv == "main" else options.duckdb_python
            # DuckDB and connectorx refuse the TEXT 'nan' cells: NULL them for their runs
            restore = _null_text_nan(plate) if venv == "bench" else None
            result = run_step(
                label,
                [python, me[1], "_reader", name, str(plate), table],
                memory_cap=cap,
                env={"PYTHONPATH": str(HERE.parent / "src")},
            )
            result.extra["output"] = result.payload or [
                scrub_paths(line, data) for line in result.stderr_tail.strip().splitlines()[-1:]
            ]
            if restore is not None:
                restore()
            reader_results.append(result)
            print(f"reader {label}: {result.wall_s:.1f} s, {result.status}", flush=True)
        one = run_step(
            "sqlite3 shell sum of Per_Cells (floor of one table)",
            ["bash", "-c", f"sqlite3 {plate} < {data / 'floor_Per_Cells.sql'} > /dev/null"],
        )
        reader_results.append(one)
        for result in reader_results:
            print(f"reader {result.name}: x{_ratio(result, one)} floor (one table)", flush=True)

    meta = {
        "scale": scale,
        "plate": f"{wells} wells x {sites} sites x {cells} cells, {features} features/compartment",
        "cells": wells * sites * cells,
        "sqlite_bytes": plate.stat().st_size,
        "load_average_end": machine_load(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    name = f"ingest-{options.label or scale}"
    write_results(results + reader_results, results_dir / f"{name}.json", meta, base=data)
    text = f"## Ingest, scale {scale}: {meta['plate']} ({meta['cells']} cells, "
    text += f"{meta['sqlite_bytes'] / 1e9:.2f} GB SQLite)\n\n" + _table(results, floor)
    if reader_results:
        text += "\n\n### SQLite readers (Per_Cells, whole table)\n\n"
        text += _table(reader_results, reader_results[-1])
    (results_dir / f"{name}.md").write_text(text + "\n")
    print(text)
    if not options.keep:
        plate.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
