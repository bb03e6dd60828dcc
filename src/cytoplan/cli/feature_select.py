"""``cytoplan feature-select INPUT OUTPUT``: drop uninformative features (level 4b)."""

from __future__ import annotations

from pathlib import Path

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
from cytoplan.exceptions import ParameterError


@click.command("feature-select")
@click.argument("input_table", metavar="INPUT")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option(
    "--operations",
    default="variance_threshold",
    metavar="OPS",
    help="Comma-separated, run in order: variance_threshold, frequency_threshold, "
    "correlation_threshold, drop_na_columns, blocklist, drop_outliers, noise_removal.",
)
@features_option
@click.option("--samples", default="all", metavar="QUERY", help="Rows the statistics use.")
@click.option("--na-cutoff", type=float, default=0.05)
@click.option("--corr-threshold", type=float, default=0.9)
@click.option(
    "--corr-method",
    type=click.Choice(["pearson", "spearman", "kendall"], case_sensitive=False),
    default="pearson",
)
@click.option("--freq-cut", type=float, default=0.05)
@click.option("--unique-cut", type=float, default=0.01)
@click.option("--min-variance", type=float, default=1e-6)
@click.option("--blocklist", default=None, metavar="A,B", help="Features to drop (blocklist op).")
@click.option("--blocklist-name", default=None, help="A packaged blocklist (default: default).")
@click.option("--outlier-cutoff", type=float, default=500.0)
@click.option("--noise-removal-perturb-groups", default=None, metavar="COLUMN")
@click.option("--noise-removal-stdev-cutoff", type=float, default=None)
@click.option(
    "--report",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write which feature each operation dropped and why (CSV/Parquet).",
)
@memory_limit_option
@float_format_option
@quiet_option
@reports_errors
def feature_select_command(
    input_table: str,
    output: str,
    operations: str,
    features: str | None,
    samples: str,
    na_cutoff: float,
    corr_threshold: float,
    corr_method: str,
    freq_cut: float,
    unique_cut: float,
    min_variance: float,
    blocklist: str | None,
    blocklist_name: str | None,
    outlier_cutoff: float,
    noise_removal_perturb_groups: str | None,
    noise_removal_stdev_cutoff: float | None,
    report: str | None,
    memory_limit: str | None,
    float_format: str | None,
    quiet: bool,
) -> None:
    """Drop features by variance, frequency, correlation, missing values, blocklists,
    outliers or noise, in the order given.

    \b
    Example:
      cytoplan feature-select normalized.parquet selected.parquet \\
        --operations variance_threshold,correlation_threshold,drop_na_columns,blocklist
    """
    from cytoplan.api import scan
    from cytoplan.io.sinks import check_destination, write_profiles
    from cytoplan.ops.feature_select import FeatureSelector

    if report:  # checked now: a bad report path must not fail after OUTPUT is written
        check_destination(report)
        for role, path in (("OUTPUT", output), ("INPUT", input_table)):
            if Path(report).resolve() == Path(path).resolve():
                msg = f"--report {report!r} is the same file as {role}; give it its own name"
                raise ParameterError(msg)
    if blocklist and "blocklist" not in (split_list(operations) or []):
        click.echo("warning: --blocklist is used only by the blocklist operation", err=True)
    frame = scan(input_table)
    selector = FeatureSelector(
        operations=split_list(operations) or [],  # type: ignore[arg-type]
        features=split_list(features),
        reference=samples,
        na_cutoff=na_cutoff,
        corr_threshold=corr_threshold,
        corr_method=corr_method,  # type: ignore[arg-type]
        freq_cut=freq_cut,
        unique_cut=unique_cut,
        min_variance=min_variance,
        blocklist=split_list(blocklist),
        blocklist_name=blocklist_name,
        outlier_cutoff=outlier_cutoff,
        noise_removal_perturb_groups=noise_removal_perturb_groups,
        noise_removal_stdev_cutoff=noise_removal_stdev_cutoff,
        memory_limit=memory_limit,
    ).fit(frame)
    write_profiles(selector.transform(frame), output, float_format=float_format)
    if report:
        write_profiles(selector.dropped_, report)
    echo(f"wrote {output} (dropped {selector.dropped_.height} features)", quiet=quiet)
