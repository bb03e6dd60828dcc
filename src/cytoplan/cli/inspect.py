"""``cytoplan inspect TABLE``: schema, column roles, rows and plates of a profile table."""

from __future__ import annotations

import click

from cytoplan.cli._common import reports_errors


@click.command("inspect")
@click.argument("table")
@click.option("--columns", is_flag=True, help="List every column with its role and type.")
@reports_errors
def inspect_command(table: str, columns: bool) -> None:
    """Print a profile table's column roles, row count and plates.

    \b
    Example:
      cytoplan inspect PLATE.parquet --columns
    """
    from cytoplan.api import describe

    click.echo(describe(table).render(columns=columns))
