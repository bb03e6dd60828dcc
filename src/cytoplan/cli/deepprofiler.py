"""``cytoplan deepprofiler INDEX PROFILE_DIR OUTPUT``: DeepProfiler npz files → a profile table."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from cytoplan.cli._common import echo, float_format_option, quiet_option, reports_errors

#: grouping keys per aggregation level
LEVELS = {
    "site": ["Metadata_Plate", "Metadata_Well", "Metadata_Site"],
    "well": ["Metadata_Plate", "Metadata_Well"],
    "plate": ["Metadata_Plate"],
}


@click.command("deepprofiler")
@click.argument("index", type=click.Path(dir_okay=False))
@click.argument("profile_dir", type=click.Path(file_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option(
    "--level",
    type=click.Choice(["single-cell", "site", "well", "plate"], case_sensitive=False),
    default="well",
    help="single-cell: every cell; else one profile per site, well or plate.",
)
@click.option(
    "--method", type=click.Choice(["median", "mean"], case_sensitive=False), default="median"
)
@click.option(
    "--missing",
    type=click.Choice(["raise", "skip"], case_sensitive=False),
    default="raise",
    help="A site listed in the index without its .npz file: fail, or leave it out.",
)
@click.option("--feature-prefix", default="DP", help="Feature prefix when the files name no model.")
@click.option(
    "--config",
    "config",
    default=None,
    type=click.Path(dir_okay=False),
    help="DeepProfiler config JSON (its model name is the fallback feature prefix).",
)
@float_format_option
@quiet_option
@reports_errors
def deepprofiler_command(
    index: str,
    profile_dir: str,
    output: str,
    level: str,
    method: str,
    missing: str,
    feature_prefix: str,
    config: str | None,
    float_format: str | None,
    quiet: bool,
) -> None:
    """Read DeepProfiler's per-site .npz features (one file at a time) and write profiles.

    Index columns (all as text) and Location_Center_X/Y come first for single
    cells; aggregated levels keep the grouping keys, Metadata_Object_Count and the
    features (efficientnet_0, ...).

    \b
    Example:
      cytoplan deepprofiler inputs/metadata/index.csv outputs/results/features wells.parquet
    """
    import polars as pl

    from cytoplan.io.deepprofiler import LOCATION_COLUMNS, scan_deepprofiler
    from cytoplan.io.sinks import write_profiles
    from cytoplan.ops.aggregate import aggregate

    cells = scan_deepprofiler(
        index,
        profile_dir,
        missing=missing,  # type: ignore[arg-type]
        fallback_feature_prefix=feature_prefix,
        config=config,
        # aggregated levels drop the locations: sites without them aggregate too,
        # as in pycytominer's AggregateDeepProfiler
        locations=level == "single-cell",
    )
    if level == "single-cell":
        write_profiles(cells, output, float_format=float_format)
        echo(f"wrote {output}", quiet=quiet)
        return
    schema = cells.collect_schema()
    features = [
        name
        for name, dtype in schema.items()
        if dtype.is_numeric() and name not in LOCATION_COLUMNS
    ]
    with tempfile.TemporaryDirectory(dir=Path(output).resolve().parent) as scratch:
        source = cells
        if method == "median":
            # exact medians read the table once per column block: stage the npz files
            # to Parquet once (streamed), so each block is a cheap column projection
            staged = Path(scratch) / "cells.parquet"
            cells.sink_parquet(staged, row_group_size=8192)
            source = pl.scan_parquet(staged)
        result = aggregate(
            source.with_columns(pl.lit(1).alias("Metadata_ObjectNumber")),
            strata=LEVELS[level],
            features=features,
            method=method,  # type: ignore[arg-type]
            object_count=True,
        )
        write_profiles(result, output, float_format=float_format)
    echo(f"wrote {output}", quiet=quiet)
