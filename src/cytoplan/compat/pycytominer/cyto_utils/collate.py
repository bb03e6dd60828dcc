"""pycytominer's ``cyto_utils.collate`` without external tools.

pycytominer runs ``aws s3 sync`` and ``cytominer-database ingest`` in subprocesses;
here the ingest is :func:`cytoplan.io.collate.collate_csv_folders` (in-process,
one CSV at a time), then the plate is aggregated with :class:`SingleCells` as
pycytominer does (mean, with image features). ``aws_remote`` is not supported
(download the CSV folders first, or read them straight from S3 with
``cytoplan.io.scan_cellprofiler_csv``).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from cytoplan.compat.pycytominer._frames import pycytominer_errors

__all__ = ["collate", "run_check_errors"]


def run_check_errors(cmd: list[str]) -> None:
    """Kept for import compatibility: cytoplan never shells out, so this always refuses."""
    msg = f"cytoplan's collate does not run external commands (asked: {' '.join(cmd)})"
    raise ValueError(msg)


def collate(
    batch: str,
    config: str,
    plate: str,
    base_directory: str = "../..",
    column: str | None = None,
    munge: bool = False,
    csv_dir: str = "analysis",
    aws_remote: str | None = None,
    aggregate_only: bool = False,
    tmp_dir: str | None = None,
    overwrite: bool = False,
    add_image_features: bool = True,
    image_feature_categories: list[str] = ["Granularity", "Texture", "ImageQuality", "Threshold"],  # noqa: B006
    printtoscreen: bool = True,
) -> None:
    """Ingest ``<base>/<csv_dir>/<batch>/<plate>/analysis/*`` and aggregate the plate.

    Writes ``<base>/backend/<batch>/<plate>/<plate>.sqlite`` and ``<plate>.csv``
    (the mean profiles with image features, uncompressed). ``config`` (the
    cytominer-database ingest config) is accepted and ignored: the ingest layout is
    cytominer-database's default.
    """
    import warnings

    from cytoplan.compat.pycytominer.cyto_utils.cells import SingleCells
    from cytoplan.io.collate import collate_csv_folders

    if aws_remote is not None:
        msg = "aws_remote is not supported by cytoplan's collate; sync the CSV folders first"
        raise ValueError(msg)
    base = Path(base_directory)
    backend = base / "backend" / batch / plate
    sqlite_path = backend / f"{plate}.sqlite"
    csv_path = backend / f"{plate}.csv"
    if not aggregate_only:
        if sqlite_path.exists() and not overwrite:
            if printtoscreen:
                print(f"{sqlite_path} already exists; pass overwrite=True to redo it.")
            sys.exit(1)
        input_dir = base / csv_dir / batch / plate / "analysis"
        if not input_dir.is_dir():
            input_dir = base / csv_dir / batch / plate
        scratch = Path(tempfile.mkdtemp(dir=tmp_dir))
        try:
            if printtoscreen:
                print(f"Ingesting {input_dir}")
            staged = scratch / f"{plate}.sqlite"
            with pycytominer_errors():
                collate_csv_folders(
                    input_dir,
                    sqlite=staged,
                    plate=plate if munge or column else None,
                    overwrite=True,
                )
            backend.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staged), sqlite_path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if printtoscreen:
        print(f"Aggregating sqlite:///{sqlite_path}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cells: Any = SingleCells(
            sql_file=f"sqlite:///{sqlite_path}",
            aggregation_operation="mean",
            add_image_features=add_image_features,
            image_feature_categories=image_feature_categories,
        )
    cells.aggregate_profiles(output_file=str(csv_path))
