"""pycytominer's ``cyto_utils.collate`` without external tools.

pycytominer runs ``aws s3 sync``/``aws s3 cp`` and ``cytominer-database ingest`` in
subprocesses; here the ingest is :func:`cytoplan.io.collate.collate_csv_folders`
(in-process, one CSV at a time), the object-store copies go through fsspec/s3fs
(:func:`cytoplan.io.collate.download_csv_folders`,
:func:`cytoplan.io.collate.download_file`, :func:`cytoplan.io.remote.upload_file`),
and the plate is aggregated with :class:`SingleCells` as pycytominer does (mean,
with image features). The folders, file names, the order of the steps and the
clean-up are pycytominer's.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cytoplan.compat.pycytominer._frames import pycytominer_errors

__all__ = ["collate", "run_check_errors"]


def run_check_errors(cmd: list[str]) -> None:
    """Kept for import compatibility: cytoplan never shells out, so this always refuses."""
    msg = f"cytoplan's collate does not run external commands (asked: {' '.join(cmd)})"
    raise ValueError(msg)


def _copy(step: Callable[[], Any], source: str, target: str) -> None:
    """Run one object-store copy; a failure exits as pycytominer's ``run_check_errors``."""
    try:
        step()
    except Exception as err:
        sys.exit(f"The error {err} was generated when copying {source} to {target}. Exiting.")


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
    image_feature_categories: list[str] | None = [  # noqa: B006
        "Granularity",
        "Texture",
        "ImageQuality",
        "Threshold",
    ],
    printtoscreen: bool = True,
) -> None:
    """Ingest a plate's CellProfiler CSV folders into SQLite and aggregate it (pycytominer 1.7.1).

    Reads ``<base>/analysis/<batch>/<plate>/<csv_dir>/<site>/*.csv``, writes the SQLite
    to ``<tmp_dir>/backend/<batch>/<plate>/<plate>.sqlite`` and moves it to
    ``<base>/backend/<batch>/<plate>/<plate>.sqlite``, then writes the mean profiles
    (with image features) to ``<plate>.csv`` beside it. An SQLite left in
    ``tmp_dir`` by an earlier run exits (``SystemExit``) unless ``overwrite``.
    ``column`` copies that image column into a new ``Metadata_Plate`` column (SQL
    ``ALTER TABLE``/``UPDATE``, as pycytominer). ``config`` (the cytominer-database
    ingest config) is accepted and ignored: the ingest layout is cytominer-database's
    default.

    ``aws_remote`` (``s3://bucket/prefix``) is pycytominer's remote workspace:

    * without ``aggregate_only``: the site CSVs (``Image``, ``Cells``, ``Cytoplasm``,
      ``Nuclei``) under ``<aws_remote>/analysis/<batch>/<plate>/<csv_dir>`` are
      downloaded to the local input folder first; after ingest the SQLite is uploaded
      to ``<aws_remote>/backend/<batch>/<plate>/<plate>.sqlite`` and the local CSVs
      are removed;
    * with ``aggregate_only``: that remote SQLite is downloaded to the backend folder;
    * in both cases the aggregated ``<plate>.csv`` is uploaded beside the remote
      SQLite and the local backend folder is removed.

    Copies go through fsspec/s3fs with the ``AWS_*`` environment (endpoint, region,
    credentials), as the AWS CLI reads it; a failed copy exits (``SystemExit``) with
    the error, as pycytominer does.
    """
    import warnings

    from cytoplan.compat.pycytominer.cyto_utils.cells import SingleCells
    from cytoplan.io.collate import collate_csv_folders, download_csv_folders, download_file
    from cytoplan.io.remote import upload_file

    warnings.warn(
        "With the deprecation of cytominer-database, pycytominer.cyto_utils.collate will be "
        "removed in future versions of Pycytominer. Please consider using CellProfiler's "
        "ExportToDatabase module to create single-cell SQLite files or CytoTable to create "
        "single-cell Parquet files.",
        DeprecationWarning,
        stacklevel=2,
    )
    tmp_root = tempfile.gettempdir() if tmp_dir is None else tmp_dir
    input_dir = Path(f"{base_directory}/analysis/{batch}/{plate}/{csv_dir}")
    backend_dir = Path(f"{base_directory}/backend/{batch}/{plate}")
    cache_backend_dir = Path(f"{tmp_root}/backend/{batch}/{plate}")
    aggregated_file = backend_dir / f"{plate}.csv"
    backend_file = backend_dir / f"{plate}.sqlite"
    cache_backend_file = cache_backend_dir / f"{plate}.sqlite"
    remote = aws_remote.rstrip("/") if aws_remote else None
    remote_backend_file = f"{remote}/backend/{batch}/{plate}/{plate}.sqlite"
    remote_aggregated_file = f"{remote}/backend/{batch}/{plate}/{plate}.csv"

    if not aggregate_only:
        if cache_backend_file.exists():
            if not overwrite:
                sys.exit(
                    f"An SQLite file for {plate} already exists at {cache_backend_file} and "
                    "overwrite is set to False. Terminating."
                )
            cache_backend_file.unlink()
        for folder in (input_dir, backend_dir, cache_backend_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if remote:
            remote_input_dir = f"{remote}/analysis/{batch}/{plate}/{csv_dir}"
            if printtoscreen:
                print(f"Downloading CSVs from {remote_input_dir} to {input_dir}")
            _copy(
                lambda: download_csv_folders(remote_input_dir, input_dir),
                remote_input_dir,
                str(input_dir),
            )
        if printtoscreen:
            print(f"Ingesting {input_dir}")
        with pycytominer_errors():
            collate_csv_folders(
                input_dir,
                sqlite=cache_backend_file,
                plate=plate if munge else None,
                overwrite=True,
            )
        if column:
            import sqlite3

            if printtoscreen:
                print(f"Adding a Metadata_Plate column based on column {column}")
            with sqlite3.connect(cache_backend_file, isolation_level=None) as connection:
                connection.execute("ALTER TABLE Image ADD COLUMN Metadata_Plate TEXT;")
                connection.execute(f"UPDATE image SET Metadata_Plate ={column};")
            connection.close()
        if remote:
            if printtoscreen:
                print(f"Uploading {cache_backend_file} to {remote_backend_file}")
            _copy(
                lambda: upload_file(cache_backend_file, remote_backend_file),
                str(cache_backend_file),
                remote_backend_file,
            )
            if printtoscreen:
                print(f"Removing analysis files from {input_dir} and {cache_backend_dir}")
            shutil.rmtree(input_dir)
        if printtoscreen:
            print(f"Renaming {cache_backend_file} to {backend_file}")
        shutil.move(str(cache_backend_file), backend_file)

    if printtoscreen:
        print(f"Aggregating sqlite:///{backend_file}")
    if aggregate_only and remote:
        if printtoscreen:
            print(f"Downloading SQLite files from {remote_backend_file} to {backend_file}")
        _copy(
            lambda: download_file(remote_backend_file, backend_file),
            remote_backend_file,
            str(backend_file),
        )
    if not backend_file.exists():
        sys.exit(f"{backend_file} does not exist. Exiting.")
    if not add_image_features:
        image_feature_categories = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cells: Any = SingleCells(
            sql_file=f"sqlite:///{backend_file}",
            aggregation_operation="mean",
            add_image_features=add_image_features,
            image_feature_categories=image_feature_categories,
        )
    cells.aggregate_profiles(output_file=str(aggregated_file))
    if remote:
        if printtoscreen:
            print(f"Uploading {aggregated_file} to {remote_aggregated_file}")
        _copy(
            lambda: upload_file(aggregated_file, remote_aggregated_file),
            str(aggregated_file),
            remote_aggregated_file,
        )
        if printtoscreen:
            print(f"Removing backend files from {backend_dir}")
        shutil.rmtree(backend_dir)
