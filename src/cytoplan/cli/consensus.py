"""``cytoplan consensus INPUT OUTPUT``: replicate profiles → one signature each (level 5)."""

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


@click.command("consensus")
@click.argument("input_table", metavar="INPUT")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option(
    "--replicate-columns", default="Metadata_Plate,Metadata_Well", help="Columns naming a group."
)
@click.option(
    "--method",
    type=click.Choice(["median", "mean", "modz"], case_sensitive=False),
    default="median",
)
@features_option
@click.option(
    "--modz-method",
    type=click.Choice(["spearman", "pearson", "kendall"], case_sensitive=False),
    default="spearman",
)
@click.option("--modz-min-weight", type=float, default=0.01)
@click.option("--modz-precision", type=int, default=4)
@memory_limit_option
@float_format_option
@quiet_option
@reports_errors
def consensus_command(
    input_table: str,
    output: str,
    replicate_columns: str,
    method: str,
    features: str | None,
    modz_method: str,
    modz_min_weight: float,
    modz_precision: int,
    memory_limit: str | None,
    float_format: str | None,
    quiet: bool,
) -> None:
    """One consensus profile per replicate group: median, mean or MODZ.

    \b
    Example:
      cytoplan consensus normalized.parquet consensus.parquet \\
        --replicate-columns Metadata_broad_sample --method modz
    """
    from cytoplan.api import consensus
    from cytoplan.io.sinks import write_profiles

    result = consensus(
        input_table,
        replicate_columns=split_list(replicate_columns) or [],
        method=method,  # type: ignore[arg-type]
        features=split_list(features),
        modz_method=modz_method,  # type: ignore[arg-type]
        min_weight=modz_min_weight,
        precision=modz_precision,
        memory_limit=memory_limit,
    )
    write_profiles(result, output, float_format=float_format)
    echo(f"wrote {output}", quiet=quiet)
