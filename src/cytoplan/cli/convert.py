"""``cytoplan convert SRC DEST``: CellProfiler SQLite / CSV folders → single-cell Parquet."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from cytoplan.cli._common import echo, memory_limit_option, quiet_option, reports_errors

if TYPE_CHECKING:
    from cytoplan.io.convert import ConvertReport


@click.command("convert")
@click.argument("src", type=click.Path(dir_okay=True))
@click.argument("dest", type=click.Path(dir_okay=False))
@memory_limit_option
@click.option("--row-group-size", type=int, default=None, help="Rows per Parquet row group.")
@click.option(
    "--drop-orphans",
    is_flag=True,
    help="Drop objects without a parent or image row, as pycytominer does silently "
    "(default: refuse them, naming an example).",
)
@quiet_option
@reports_errors
def convert_command(
    src: str,
    dest: str,
    memory_limit: str | None,
    row_group_size: int | None,
    drop_orphans: bool,
    quiet: bool,
) -> None:
    """Merge a CellProfiler plate (SQLite or CSV folders) into single-cell Parquet.

    Compartments are linked as pycytominer's SingleCells.merge_single_cells does;
    the output is written under a temporary name and renamed when complete.

    \b
    Example:
      cytoplan convert backend/BATCH/PLATE/PLATE.sqlite PLATE.parquet
    """
    from cytoplan.api import describe
    from cytoplan.config import settings
    from cytoplan.io.convert import convert

    started = time.perf_counter()
    options: dict[str, object] = {
        "memory_limit": memory_limit,
        "progress": not quiet and sys.stderr.isatty(),
    }
    if row_group_size is not None:
        options["row_group_size"] = row_group_size
    if drop_orphans:
        from cytoplan.io.cellprofiler import LinkSpec

        options["link"] = LinkSpec(orphans="drop")
    report = convert(src, dest, **options)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    echo(f"wrote {dest} in {seconds:.1f} s", quiet=quiet)
    if report.row_groups > 0:
        _report_metadata(report, dest, settings(memory_limit=memory_limit).memory_limit, quiet)
    echo(describe(dest).render(), quiet=quiet)


def _report_metadata(report: ConvertReport, dest: str, limit: int, quiet: bool) -> None:
    """Say how much memory scans of the file will hold for its footer; warn when large."""
    size = report.metadata_bytes / 2**20
    text = f"{size:,.1f}" if size < 10 else f"{size:,.0f}"
    groups = f"{report.row_groups:,} row group{'s' if report.row_groups != 1 else ''}"
    echo(f"parquet   {groups}; scans hold ~{text} MiB of metadata", quiet=quiet)
    if report.metadata_bytes > limit // 4:
        click.echo(
            f"warning: every later scan of {dest} holds ~{text} MiB of Parquet metadata "
            f"({groups} x {report.columns:,} columns), over a quarter of the "
            f"{_size(limit)} memory limit; rewrite it with fewer, larger row groups: "
            f"--row-group-size {report.rows_per_group_for(limit // 8)} "
            "(the writer holds one row group in memory)",
            err=True,
        )


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.3g} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.3g} MiB"
