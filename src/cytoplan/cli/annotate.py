"""``cytoplan annotate INPUT OUTPUT --platemap FILE``: add platemap metadata (augmented)."""

from __future__ import annotations

import click

from cytoplan.cli._common import echo, float_format_option, quiet_option, reports_errors, split_list


@click.command("annotate")
@click.argument("input_table", metavar="INPUT")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--platemap", required=True, help="Platemap file (CSV/TSV/TXT, delimiter inferred).")
@click.option(
    "--join-on",
    default="Metadata_well_position,Metadata_Well",
    help="Platemap key,profile key (after the Metadata_ prefix is added to platemap columns); "
    "one name joins on the same column on both sides.",
)
@click.option("--external-metadata", default=None, help="Extra metadata table to left-join.")
@click.option("--external-join-on", default=None, help="Join column(s) for external metadata.")
@click.option("--no-metadata-prefix", is_flag=True, help="Do not prefix platemap columns.")
@click.option("--no-clean-cellprofiler", is_flag=True, help="Keep Image_Metadata_* names.")
@click.option("--allow-unmatched", is_flag=True, help="Drop profiles with no platemap row.")
@click.option("--allow-duplicates", is_flag=True, help="Accept duplicated platemap keys.")
@float_format_option
@quiet_option
@reports_errors
def annotate_command(
    input_table: str,
    output: str,
    platemap: str,
    join_on: str,
    external_metadata: str | None,
    external_join_on: str | None,
    no_metadata_prefix: bool,
    no_clean_cellprofiler: bool,
    allow_unmatched: bool,
    allow_duplicates: bool,
    float_format: str | None,
    quiet: bool,
) -> None:
    """Join a platemap (and optional external metadata) onto well profiles.

    Profiles without a platemap row, or duplicated by repeated platemap keys, are
    an error unless allowed.

    \b
    Example:
      cytoplan annotate wells.parquet augmented.parquet --platemap platemap/P1.txt
    """
    from cytoplan.api import annotate
    from cytoplan.io.sinks import write_profiles

    keys = split_list(join_on) or []
    result = annotate(
        input_table,
        platemap,
        join_on=keys[0] if len(keys) == 1 else keys,
        add_metadata_prefix=not no_metadata_prefix,
        external_metadata=external_metadata,
        external_join_on=split_list(external_join_on),
        clean_cellprofiler=not no_clean_cellprofiler,
        unmatched="drop" if allow_unmatched else "raise",
        duplicates="allow" if allow_duplicates else "raise",
    )
    write_profiles(result, output, float_format=float_format)
    echo(f"wrote {output}", quiet=quiet)
