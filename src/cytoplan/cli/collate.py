"""``cytoplan collate CSV_ROOT``: CellProfiler per-site CSV folders → SQLite and/or Parquet."""

from __future__ import annotations

import click

from cytoplan.cli._common import echo, quiet_option, reports_errors


@click.command("collate")
@click.argument("csv_root", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--sqlite",
    "sqlite_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write the plate SQLite (cytominer-database layout) here.",
)
@click.option(
    "--parquet",
    "parquet_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write the merged single cells here (Parquet).",
)
@click.option(
    "--aggregate",
    "aggregate_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also write well profiles (mean, with object count) here.",
)
@click.option(
    "--image-features",
    is_flag=True,
    help="Aggregate numeric Image_ columns too (pycytominer's add_image_features).",
)
@click.option("--plate", default=None, help="Metadata_Plate to add when the image table lacks it.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@quiet_option
@reports_errors
def collate_command(
    csv_root: str,
    sqlite_path: str | None,
    parquet_path: str | None,
    aggregate_path: str | None,
    image_features: bool,
    plate: str | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Ingest a plate's CellProfiler CSV folders in-process (no cytominer-database, no aws).

    \b
    Example:
      cytoplan collate analysis/2024_01_01_Batch1/BR00000001/analysis \\
        --sqlite BR00000001.sqlite --aggregate BR00000001.csv
    """
    from cytoplan.exceptions import ParameterError
    from cytoplan.io.collate import collate_csv_folders
    from cytoplan.io.csv_folder import scan_cellprofiler_csv
    from cytoplan.io.sinks import write_profiles
    from cytoplan.ops.aggregate import aggregate

    if sqlite_path is None and parquet_path is None and aggregate_path is None:
        msg = "nothing to write: give --sqlite, --parquet and/or --aggregate"
        raise ParameterError(msg)
    if sqlite_path is not None or parquet_path is not None:
        report = collate_csv_folders(
            csv_root, sqlite=sqlite_path, parquet=parquet_path, plate=plate, overwrite=overwrite
        )
        for table, rows in report.tables.items():
            echo(f"{table}: {rows} rows from {report.folders} folders", quiet=quiet)
        for path in (report.sqlite, report.parquet):
            if path is not None:
                echo(f"wrote {path}", quiet=quiet)
    if aggregate_path is not None:
        import polars as pl

        cells = (
            pl.scan_parquet(parquet_path)
            if parquet_path is not None
            else scan_cellprofiler_csv(csv_root)
        )
        if image_features and not any(
            name.startswith("Image_") for name in cells.collect_schema().names()
        ):
            click.echo(
                "warning: --image-features: the merged single cells hold no Image_ columns "
                "(the image table gives only its keys and metadata), so none are aggregated",
                err=True,
            )
        wells = aggregate(cells, method="mean", object_count=True, image_features=image_features)
        write_profiles(wells, aggregate_path)
        echo(f"wrote {aggregate_path}", quiet=quiet)
