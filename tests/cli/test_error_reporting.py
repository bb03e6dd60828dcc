"""What the CLI prints when a command fails: one line for the user's and the system's
errors, a traceback for bugs."""

from __future__ import annotations

import errno

import click
import pytest
from click.testing import CliRunner

from cytoplan.cli._common import reports_errors
from cytoplan.exceptions import ParameterError


def _failing(error: BaseException) -> click.Command:
    @click.command()
    @reports_errors
    def command() -> None:
        raise error

    return command


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ParameterError("method must be one of 'median', 'mean', got 'mode'"), "error: method"),
        (
            OSError(errno.ENOSPC, "No space left on device", "wells.parquet"),
            "error: No space left on device: 'wells.parquet'\n",
        ),
        (
            # how Polars reports a failed map under a virtual-memory cap
            OSError("Cannot allocate memory (os error 12)"),
            "error: Cannot allocate memory (os error 12); lower --memory-limit, "
            "or raise the virtual-memory limit (ulimit -v)",
        ),
        (MemoryError(), "error: out of memory; lower --memory-limit"),
    ],
)
def test_user_and_system_errors_are_one_line(error: BaseException, expected: str) -> None:
    result = CliRunner().invoke(_failing(error))
    assert result.exit_code == 1
    assert result.output.startswith(expected)
    assert result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_a_bug_keeps_its_traceback() -> None:
    result = CliRunner().invoke(_failing(KeyError("internal")))
    assert result.exit_code == 1
    assert isinstance(result.exception, KeyError)
    assert "error:" not in result.output
