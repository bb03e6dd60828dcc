"""Options and error handling shared by the commands."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from cytoplan.exceptions import CytoplanError

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Turn our exceptions into a one-line message on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CytoplanError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def split_list(value: str | None) -> list[str] | None:
    """``"a,b"`` → ``["a", "b"]``; None stays None."""
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


memory_limit_option = click.option(
    "--memory-limit",
    default=None,
    metavar="SIZE",
    help="Memory budget for holistic statistics, e.g. 2GiB "
    "(default: $CYTOPLAN_MEMORY_LIMIT or 2GiB).",
)
features_option = click.option(
    "--features",
    default=None,
    metavar="A,B,...",
    help="Feature columns (comma-separated); default: numeric Cells_/Cytoplasm_/Nuclei_ columns.",
)
float_format_option = click.option(
    "--float-format", default=None, metavar="FMT", help='printf format for CSV floats, e.g. "%.5g".'
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")


def echo(message: str, *, quiet: bool) -> None:
    """Print unless ``--quiet``."""
    if not quiet:
        click.echo(message)
