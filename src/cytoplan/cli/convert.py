"""``cytoplan convert SRC DEST``: CellProfiler SQLite / CSV folders → single-cell Parquet."""

from __future__ import annotations

import sys
import time

import click

from cytoplan.cli._common import echo, memory_limit_option, quiet_option, reports_errors


@click.command("convert")
@click.argument("src", type=click.Path(dir_okay=True))
@click.argument("dest", type=click.Path(dir_okay=False))
@memory_limit_option
@click.option("--row-group-size", type=int, default=None, help="Rows per Parquet row group.")
@quiet_option
@reports_errors
def convert_command(
    src: str, dest: str, memory_limit: str | None, row_group_size: int | None, quiet: bool
) -> None:
    """Merge a CellProfiler plate (SQLite or CSV folders) into single-cell Parquet.

    Compartments are linked as pycytominer's SingleCells.merge_single_cells does;
    the output is written under a temporary name and renamed when complete.

    \b
    Example:
      cytoplan convert backend/BATCH/PLATE/PLATE.sqlite PLATE.parquet
    """
    from cytoplan.api import describe
    from cytoplan.io.convert import convert

    started = time.perf_counter()
    options: dict[str, object] = {
        "memory_limit": memory_limit,
        "progress": not quiet and sys.stderr.isatty(),
    }
    if row_group_size is not None:
        options["row_group_size"] = row_group_size
    convert(src, dest, **options)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    echo(f"wrote {dest} in {seconds:.1f} s", quiet=quiet)
    echo(describe(dest).render(), quiet=quiet)
