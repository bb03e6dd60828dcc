"""``cytoplan explain RECIPE``: print the plan of every step without running it."""

from __future__ import annotations

import click

from cytoplan.cli._common import reports_errors


@click.command("explain")
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False))
@click.option("--workspace", type=click.Path(file_okay=False), default=None, help="As for run.")
@click.option("--output-dir", type=click.Path(file_okay=False), default=None, help="As for run.")
@click.option(
    "--no-plans", is_flag=True, help="Leave out the Polars plans of existing input files."
)
@reports_errors
def explain_command(
    recipe: str, workspace: str | None, output_dir: str | None, no_plans: bool
) -> None:
    """Print each step's inputs, outputs and state (and Polars input plans), running nothing.

    \b
    Example:
      cytoplan explain data_fixtures/recipes/cytoplan.yml
    """
    from cytoplan.recipe import explain_recipe

    click.echo(
        explain_recipe(recipe, plans=not no_plans, workspace=workspace, output_dir=output_dir)
    )
