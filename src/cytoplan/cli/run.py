"""``cytoplan run RECIPE``: run a recipe (both dialects), skipping up-to-date outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cytoplan.cli._common import echo, quiet_option, reports_errors


@click.command("run")
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Re-run every step, even when outputs are up to date.")
@click.option(
    "--workspace",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder inputs start from (profiling-recipe default: the current folder; "
    "cytoplan recipes: their workspace: key).",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write outputs here instead of the recipe's output folder "
    "(a local folder or s3://bucket/prefix).",
)
@quiet_option
@reports_errors
def run_command(
    recipe: str, force: bool, workspace: str | None, output_dir: str | None, quiet: bool
) -> None:
    """Run a recipe: per-plate steps, then batch-level steps, each output with a manifest.

    RECIPE is a profiling-recipe config (multi-document YAML) or a cytoplan
    recipe (version: 1). Outputs that are complete and whose inputs and recipe
    section did not change are skipped. Exit code 0 on success, 1 on a bad
    recipe or a failed step (the message names the recipe file and line), 2 on
    wrong usage, 130 when interrupted (completed outputs are kept).

    \b
    Example:
      cytoplan run data_fixtures/recipes/cytoplan.yml --output-dir example-profiles
      cd workspace && cytoplan run config_files/config.yml
    """
    try:
        from cytoplan.recipe import load_recipe, run_recipe

        loaded = load_recipe(recipe, workspace=workspace, output_dir=output_dir)
    except KeyboardInterrupt:  # while the recipe loads: nothing has run yet
        click.echo("interrupted: nothing was run", err=True)
        sys.exit(130)
    bar = None
    if not quiet and sys.stderr.isatty():
        from tqdm import tqdm

        from cytoplan.recipe import plan

        bar = tqdm(total=len(plan(loaded)), unit="step", file=sys.stderr, leave=False)

    def log(line: str) -> None:
        if line.startswith("warning:"):
            click.echo(line, err=True)
        elif bar is not None:
            bar.update(1)
            bar.write(line)
        else:
            echo(line, quiet=quiet)

    try:
        report = run_recipe(loaded, force=force, log=log)
    except KeyboardInterrupt:
        click.echo(
            "interrupted: completed outputs are kept (no partial file); run again to resume",
            err=True,
        )
        sys.exit(130)
    finally:
        if bar is not None:
            bar.close()
    ran = sum(r.status == "ran" for r in report.results)
    skipped = len(report.results) - ran
    echo(f"\n{ran} step(s) run, {skipped} up to date; outputs in {loaded.output_dir}", quiet=quiet)
    here = Path.cwd()
    for level, paths in sorted(report.outputs_by_level().items()):
        echo(f"level {level}:", quiet=quiet)
        for path in paths:
            inside = isinstance(path, Path) and path.is_relative_to(here)
            shown = path.relative_to(here) if isinstance(path, Path) and inside else path
            echo(f"  {shown}", quiet=quiet)
