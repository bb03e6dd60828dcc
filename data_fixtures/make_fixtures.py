"""Regenerate the committed synthetic CellProfiler fixtures.

Run from the repository root::

    python data_fixtures/make_fixtures.py            # rewrites data_fixtures/ in place
    python data_fixtures/make_fixtures.py --out DIR  # writes the same tree under DIR

The output is deterministic (byte-identical for the same cytoplan and SQLite
versions) and the script is idempotent: it replaces only the files and site
folders it makes. See ``data_fixtures/README.md`` for the tree.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from cytoplan.testing.synthetic import (
    PlateSpec,
    write_csv_folders,
    write_external_metadata,
    write_platemap,
    write_sqlite,
)

BATCH = "2024_01_01_Batch1"
PROJECT = "cpg0000-synthetic"
PLATEMAP = "platemap_1"

#: The two plates of the batch (cytominer-database layout), sharing platemap_1.
BATCH_PLATES: tuple[PlateSpec, ...] = (
    PlateSpec("BR00000001", wells=24, sites_per_well=2, cells_per_site=8),
    PlateSpec("BR00000002", wells=24, sites_per_well=2, cells_per_site=8),
)
#: A smaller plate in CellProfiler ExportToDatabase layout.
EXPORTTODATABASE_PLATE = PlateSpec("BR00000003", wells=12, sites_per_well=2, cells_per_site=6)
#: Plates whose CSV site folders are committed.
CSV_PLATES: tuple[str, ...] = ("BR00000001",)


def workspace(root: Path) -> Path:
    """The profiling-recipe ``workspace`` folder of the synthetic project."""
    return root / PROJECT / "workspace"


def backend_sqlite(root: Path, plate: str) -> Path:
    """``workspace/backend/<batch>/<plate>/<plate>.sqlite``."""
    return workspace(root) / "backend" / BATCH / plate / f"{plate}.sqlite"


def analysis_dir(root: Path, plate: str) -> Path:
    """``workspace/analysis/<batch>/<plate>/analysis`` (holds ``<plate>-<well>-<site>/``)."""
    return workspace(root) / "analysis" / BATCH / plate / "analysis"


def exporttodatabase_sqlite(root: Path) -> Path:
    """``exporttodatabase/<plate>.sqlite``."""
    return root / "exporttodatabase" / f"{EXPORTTODATABASE_PLATE.plate}.sqlite"


def make_fixtures(root: Path) -> list[Path]:
    """Write every fixture under ``root`` and return the paths written."""
    written: list[Path] = []
    for spec in BATCH_PLATES:
        written.append(write_sqlite(spec, backend_sqlite(root, spec.plate), "cytominer-database"))
    for spec in BATCH_PLATES:
        if spec.plate in CSV_PLATES:
            folder = analysis_dir(root, spec.plate)
            shutil.rmtree(folder, ignore_errors=True)
            written += write_csv_folders(spec, folder)
    platemaps = workspace(root) / "metadata" / "platemaps"
    written += write_platemap(list(BATCH_PLATES), platemaps, PLATEMAP, batch=BATCH)
    external = workspace(root) / "metadata" / "external_metadata" / "external_metadata.tsv"
    written.append(write_external_metadata(external, wells=BATCH_PLATES[0].wells))
    written.append(
        write_sqlite(EXPORTTODATABASE_PLATE, exporttodatabase_sqlite(root), "exporttodatabase")
    )
    return written


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    written = make_fixtures(args.out)
    print(f"wrote {len(written)} files and folders under {args.out}")


if __name__ == "__main__":
    main()
