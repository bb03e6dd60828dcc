"""Options and error handling shared by the commands."""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import polars as pl

from cytoplan.exceptions import CytoplanError, first_paragraph, is_bad_value

F = TypeVar("F", bound=Callable[..., Any])


#: Said after an out-of-memory error: Polars maps Parquet files into the address
#: space, so a virtual-memory cap (``ulimit -v``, a batch system's ``--mem`` as an
#: address-space limit) below the file's size fails even when little RAM is used.
_MEMORY_HINT = (
    "; lower --memory-limit, or raise the virtual-memory limit (ulimit -v): "
    "Parquet files are mapped into memory, so the limit must exceed the file's size"
)


def reports_errors(command: F) -> F:
    """Turn our exceptions and the system's into a one-line message and exit code 1.

    A value Polars cannot read as the type its column needs (text in a numeric CSV
    column, a query ordering text against a number) is bad input too. Bugs (any
    other exception) keep their traceback.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CytoplanError as error:
            click.echo(f"error: {first_paragraph(str(error))}", err=True)
        except (
            pl.exceptions.ComputeError,
            pl.exceptions.InvalidOperationError,
            pl.exceptions.SchemaError,
        ) as error:
            if not is_bad_value(error):
                raise
            click.echo(f"error: {first_paragraph(str(error))}", err=True)
        except MemoryError:
            click.echo(f"error: out of memory{_MEMORY_HINT}", err=True)
        except OSError as error:
            click.echo(f"error: {describe_os_error(error)}", err=True)
        sys.exit(1)

    return wrapper  # type: ignore[return-value]


def describe_os_error(error: OSError) -> str:
    """An operating-system error (no space, no permission, no memory) in one line.

    >>> describe_os_error(OSError(errno.ENOSPC, "No space left on device", "out.parquet"))
    "No space left on device: 'out.parquet'"
    >>> describe_os_error(OSError("Cannot allocate memory (os error 12)")).startswith(
    ...     "Cannot allocate memory (os error 12); lower --memory-limit")
    True
    """
    text = error.strerror or str(error)
    if error.filename is not None:
        text = f"{text}: {str(error.filename)!r}"
    # Polars raises OSError("... (os error 12)") without setting errno
    if error.errno == errno.ENOMEM or f"(os error {errno.ENOMEM})" in text:
        text += _MEMORY_HINT
    return text


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
