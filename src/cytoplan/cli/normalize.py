"""``cytoplan normalize INPUT OUTPUT``: per-plate normalization (levels 4a, 4b)."""

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

METHODS = ["standardize", "robustize", "mad_robustize", "spherize", "inverse_normal"]


@click.command("normalize")
@click.argument("input_table", metavar="INPUT")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--method", type=click.Choice(METHODS, case_sensitive=False), default="standardize")
@features_option
@click.option(
    "--samples",
    default="all",
    metavar="QUERY",
    help="Reference rows the statistics are fitted on, e.g. \"Metadata_control_type == 'negcon'\".",
)
@click.option(
    "--by",
    default=None,
    metavar="COLS",
    help="Fit separately per group, e.g. Metadata_Plate (default: one fit over all rows).",
)
@click.option("--mad-robustize-epsilon", type=float, default=1e-18)
@click.option(
    "--spherize-method",
    type=click.Choice(["PCA", "ZCA", "PCA-cor", "ZCA-cor"], case_sensitive=False),
    default="ZCA-cor",
)
@click.option("--spherize-center/--no-spherize-center", default=True)
@click.option("--spherize-epsilon", type=float, default=1e-6)
@click.option("--inverse-normal-n-quantiles", type=int, default=1000)
@memory_limit_option
@float_format_option
@quiet_option
@reports_errors
def normalize_command(
    input_table: str,
    output: str,
    method: str,
    features: str | None,
    samples: str,
    by: str | None,
    mad_robustize_epsilon: float,
    spherize_method: str,
    spherize_center: bool,
    spherize_epsilon: float,
    inverse_normal_n_quantiles: int,
    memory_limit: str | None,
    float_format: str | None,
    quiet: bool,
) -> None:
    """Normalize features against reference rows, per plate if asked.

    \b
    Example:
      cytoplan normalize augmented.parquet normalized_negcon.parquet \\
        --method mad_robustize --by Metadata_Plate \\
        --samples "Metadata_control_type == 'negcon'"
    """
    from cytoplan.api import normalize
    from cytoplan.exceptions import ParameterError
    from cytoplan.io.sinks import write_profiles

    keys = split_list(by)
    if keys == []:
        msg = f"--by {by!r} names no column: give one (e.g. --by Metadata_Plate) or leave it out"
        raise ParameterError(msg)
    result = normalize(
        input_table,
        method=method,  # type: ignore[arg-type]
        features=split_list(features),
        reference=samples,
        by=keys,
        mad_robustize_epsilon=mad_robustize_epsilon,
        spherize_method=spherize_method,  # type: ignore[arg-type]
        spherize_center=spherize_center,
        spherize_epsilon=spherize_epsilon,
        inverse_normal_n_quantiles=inverse_normal_n_quantiles,
        memory_limit=memory_limit,
    )
    write_profiles(result, output, float_format=float_format)
    echo(f"wrote {output}", quiet=quiet)
