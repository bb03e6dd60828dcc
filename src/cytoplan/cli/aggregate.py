"""``cytoplan aggregate INPUT OUTPUT``: single cells → one profile per well (level 3)."""

from __future__ import annotations

import click

from cytoplan.cli._common import (
    echo,
    features_option,
    float_format_option,
    memory_limit_option,
    quiet_option,
    reports_errors,
    split_list,
)


@click.command("aggregate")
@click.argument("input_table", metavar="INPUT")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--strata", default="Metadata_Plate,Metadata_Well", help="Group columns.")
@features_option
@click.option(
    "--method", type=click.Choice(["median", "mean"], case_sensitive=False), default="median"
)
@click.option("--object-count", is_flag=True, help="Add Metadata_Object_Count per group.")
@click.option("--object-feature", default="Metadata_ObjectNumber", help="Column counted.")
@click.option("--image-features", is_flag=True, help="Aggregate numeric Image_ columns too.")
@click.option("--fields-of-view", default="all", help='"all" or comma-separated site numbers.')
@click.option(
    "--fields-of-view-feature",
    default="Metadata_Site",
    show_default=True,
    help="The column holding each cell's site, for --fields-of-view.",
)
@memory_limit_option
@float_format_option
@quiet_option
@reports_errors
def aggregate_command(
    input_table: str,
    output: str,
    strata: str,
    features: str | None,
    method: str,
    object_count: bool,
    object_feature: str,
    image_features: bool,
    fields_of_view: str,
    fields_of_view_feature: str,
    memory_limit: str | None,
    float_format: str | None,
    quiet: bool,
) -> None:
    """Median (or mean) of every feature per well.

    INPUT is single-cell Parquet/CSV, a CellProfiler SQLite file or CSV folders.

    \b
    Example:
      cytoplan aggregate PLATE.parquet PLATE_wells.parquet --object-count
    """
    from cytoplan.api import aggregate
    from cytoplan.io.sinks import write_profiles

    sites = "all" if fields_of_view == "all" else split_list(fields_of_view)
    result = aggregate(
        input_table,
        strata=split_list(strata) or [],
        features=split_list(features),
        method=method,  # type: ignore[arg-type]
        object_count=object_count,
        object_feature=object_feature,
        image_features=image_features,
        fields_of_view=sites,  # type: ignore[arg-type]
        fields_of_view_feature=fields_of_view_feature,
        memory_limit=memory_limit,
    )
    write_profiles(result, output, float_format=float_format)
    echo(f"wrote {output}", quiet=quiet)
