"""Seeded synthetic CellProfiler plates for tests and benchmarks.

A :class:`PlateSpec` describes a plate (wells, sites, cells, features, seed);
writers stream it image by image, in bounded memory, to the formats cytoplan
reads:

* :func:`write_sqlite` — single-cell SQLite, ``"cytominer-database"`` layout
  (JUMP ``backend/<plate>.sqlite``: ``Image``, ``Cells``, ``Cytoplasm``,
  ``Nuclei`` with ``TableNumber``) or ``"exporttodatabase"`` layout
  (CellProfiler ``Per_Image``, ``Per_<Object>``);
* :func:`write_csv_folders` — CellProfiler ExportToSpreadsheet site folders;
* :func:`write_merged_parquet` — the merged single-cell table (what
  pycytominer's ``SingleCells.merge_single_cells`` returns);
* :func:`write_platemap`, :func:`write_external_metadata` — profiling-recipe
  metadata.

Every image is generated from its own seed ``(seed, plate, image index)``, so
all formats hold the same values. Feature distributions, linking columns and
treatment effects are described in :mod:`cytoplan.testing._generate`.

Command line (for benchmarks)::

    python -m cytoplan.testing.synthetic --plate L --wells 384 --sites-per-well 9 \\
        --cells-per-site 87 --features-per-compartment 1000 \\
        --sqlite L.sqlite --layout exporttodatabase --parquet L.parquet

Examples
--------
>>> import sqlite3, tempfile, pathlib
>>> from cytoplan.testing.synthetic import PlateSpec, write_sqlite
>>> spec = PlateSpec("BR00000001", wells=4, sites_per_well=1)
>>> out = write_sqlite(spec, pathlib.Path(tempfile.mkdtemp()) / "BR00000001.sqlite")
>>> con = sqlite3.connect(out)
>>> con.execute("SELECT Metadata_Well, Image_Count_Cells FROM Image").fetchall()
[('A01', 8), ('A02', 8), ('A03', 8), ('A04', 8)]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cytoplan.testing._errors import SyntheticDataError
from cytoplan.testing._generate import ObjectTable, SiteImage, table_number
from cytoplan.testing._layout import WellTreatment, compound_id, plate_layout, well_names
from cytoplan.testing._names import CHANNELS, feature_names
from cytoplan.testing._platemap import PLATEMAP_COLUMNS, write_external_metadata, write_platemap
from cytoplan.testing._spec import PlateSpec, iter_images
from cytoplan.testing._writers import (
    SqliteLayout,
    merged_columns,
    sqlite_columns,
    write_csv_folders,
    write_merged_parquet,
    write_sqlite,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "CHANNELS",
    "PLATEMAP_COLUMNS",
    "ObjectTable",
    "PlateSpec",
    "SiteImage",
    "SqliteLayout",
    "SyntheticDataError",
    "WellTreatment",
    "compound_id",
    "feature_names",
    "iter_images",
    "main",
    "merged_columns",
    "negcon_wells",
    "plate_layout",
    "sqlite_columns",
    "table_number",
    "well_names",
    "write_csv_folders",
    "write_external_metadata",
    "write_merged_parquet",
    "write_platemap",
    "write_sqlite",
]


def negcon_wells(wells: int) -> list[str]:
    """Negative-control (DMSO) wells of the plate map of ``wells`` wells.

    Examples
    --------
    >>> negcon_wells(24)
    ['A01', 'A05', 'B04', 'C03', 'D02', 'D06']
    """
    return [w.well for w in plate_layout(wells) if w.control_type == "negcon"]


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _human(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1000
    return f"{n_bytes:.1f} TB"  # pragma: no cover


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cytoplan.testing.synthetic",
        description="Write a seeded synthetic CellProfiler plate (SQLite, CSV folders, Parquet).",
    )
    parser.add_argument("--plate", required=True, help="plate barcode, e.g. BR00000001")
    parser.add_argument("--wells", type=int, default=24)
    parser.add_argument("--sites-per-well", type=int, default=2)
    parser.add_argument("--cells-per-site", type=int, default=8)
    parser.add_argument("--features-per-compartment", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sqlite", type=Path, help="write a single-cell SQLite file")
    parser.add_argument(
        "--layout", choices=["cytominer-database", "exporttodatabase"], default="cytominer-database"
    )
    parser.add_argument("--csv-dir", type=Path, help="write CellProfiler CSV site folders here")
    parser.add_argument("--parquet", type=Path, help="write the merged single-cell Parquet file")
    parser.add_argument("--platemap-dir", type=Path, help="write barcode_platemap.csv + platemap/")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``python -m cytoplan.testing.synthetic --help``.

    Returns the exit status (0 on success, 2 on bad arguments).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "p.sqlite"
    >>> main(["--plate", "P1", "--wells", "2", "--sqlite", str(out)])  # doctest: +ELLIPSIS
    plate P1: 2 wells x 2 sites x 8 cells = 32 cells, 30 features per compartment
    wrote ... (cytominer-database) in ...
    0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    outputs = (args.sqlite, args.csv_dir, args.parquet, args.platemap_dir)
    if all(o is None for o in outputs):
        parser.error("nothing to write: give --sqlite, --csv-dir, --parquet or --platemap-dir")
    try:
        spec = PlateSpec(
            args.plate,
            wells=args.wells,
            sites_per_well=args.sites_per_well,
            cells_per_site=args.cells_per_site,
            features_per_compartment=args.features_per_compartment,
            seed=args.seed,
        )
        print(
            f"plate {spec.plate}: {spec.wells} wells x {spec.sites_per_well} sites x "
            f"{spec.cells_per_site} cells = {spec.n_cells} cells, "
            f"{spec.features_per_compartment} features per compartment"
        )
        _run(spec, args)
    except SyntheticDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _report(path: Path, what: str, start: float) -> None:
    elapsed = time.perf_counter() - start
    print(f"wrote {path} ({what}) in {elapsed:.1f} s, {_human(_size(path))}", flush=True)


def _run(spec: PlateSpec, args: argparse.Namespace) -> None:
    if args.sqlite is not None:
        start = time.perf_counter()
        write_sqlite(spec, args.sqlite, args.layout)
        _report(args.sqlite, args.layout, start)
    if args.csv_dir is not None:
        start = time.perf_counter()
        write_csv_folders(spec, args.csv_dir)
        _report(args.csv_dir, f"{spec.n_images} CSV site folders", start)
    if args.parquet is not None:
        start = time.perf_counter()
        write_merged_parquet(spec, args.parquet)
        _report(args.parquet, "merged single cells", start)
    if args.platemap_dir is not None:
        start = time.perf_counter()
        write_platemap([spec], args.platemap_dir)
        _report(args.platemap_dir, "plate map", start)


if __name__ == "__main__":
    raise SystemExit(main())
