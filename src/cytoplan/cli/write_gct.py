"""``cytoplan write-gct INPUT OUTPUT``: a profile table as a GCT 1.3 file (Morpheus)."""

from __future__ import annotations

import click

from cytoplan.cli._common import echo, features_option, quiet_option, reports_errors, split_list


@click.command("write-gct")
@click.argument("input_table", metavar="INPUT")
@click.argument("output", type=click.Path(dir_okay=False))
@features_option
@click.option(
    "--meta-features",
    default=None,
    metavar="A,B,...",
    help="Sample metadata columns (comma-separated); default: every Metadata_ column.",
)
@quiet_option
@reports_errors
def write_gct_command(
    input_table: str, output: str, features: str | None, meta_features: str | None, quiet: bool
) -> None:
    """Write profiles (Parquet/CSV/TSV) as GCT 1.3, as pycytominer's write_gct does.

    \b
    Example:
      cytoplan write-gct batch_feature_select.parquet batch.gct
    """
    from pathlib import Path

    from cytoplan.api import scan
    from cytoplan.exceptions import ParameterError
    from cytoplan.io.gct import write_gct

    if not output.lower().endswith(".gct"):
        msg = f"OUTPUT {output!r} must be named .gct (a GCT 1.3 text file)"
        raise ParameterError(msg)
    if Path(output).resolve() == Path(input_table).resolve():
        msg = f"OUTPUT {output!r} is the same file as INPUT; give it its own name"
        raise ParameterError(msg)
    write_gct(
        scan(input_table),
        output,
        features=split_list(features),
        meta_features=split_list(meta_features),
    )
    echo(f"wrote {output}", quiet=quiet)
