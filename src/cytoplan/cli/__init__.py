"""The ``cytoplan`` command line: a thin layer over the public Python functions.

Exit codes: 0 success, 1 bad input or a failed step (a message on stderr says
what and where), 2 wrong command-line usage.
"""

from __future__ import annotations

import click

from cytoplan import __version__
from cytoplan.cli.aggregate import aggregate_command
from cytoplan.cli.annotate import annotate_command
from cytoplan.cli.cell_locations import cell_locations_command
from cytoplan.cli.collate import collate_command
from cytoplan.cli.consensus import consensus_command
from cytoplan.cli.convert import convert_command
from cytoplan.cli.deepprofiler import deepprofiler_command
from cytoplan.cli.explain import explain_command
from cytoplan.cli.feature_select import feature_select_command
from cytoplan.cli.inspect import inspect_command
from cytoplan.cli.normalize import normalize_command
from cytoplan.cli.run import run_command
from cytoplan.cli.write_gct import write_gct_command

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="cytoplan")
def main() -> None:
    """cytoplan: image-based profiling as lazy, out-of-core query plans.

    \b
    Example:
      cytoplan convert plate.sqlite plate.parquet
      cytoplan aggregate plate.parquet wells.parquet
    """


for _command in (
    convert_command,
    inspect_command,
    aggregate_command,
    annotate_command,
    normalize_command,
    feature_select_command,
    consensus_command,
    write_gct_command,
    run_command,
    explain_command,
    collate_command,
    deepprofiler_command,
    cell_locations_command,
):
    main.add_command(_command)
