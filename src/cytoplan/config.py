"""Runtime settings: memory budget, threads and the temporary directory.

Settings are read from keyword arguments first, then from the environment
(``CYTOPLAN_MEMORY_LIMIT``, ``CYTOPLAN_THREADS``, ``CYTOPLAN_TEMP_DIR``), then
from the defaults below. The default memory limit is 2 GiB: enough for every
per-plate step at JUMP scale because holistic statistics work in column blocks
sized from it, less what the process already holds
(:func:`cytoplan.stats.blocks.working_memory`; see docs/design.md).

Examples
--------
>>> parse_bytes("1.5GiB")
1610612736
>>> parse_bytes("512MB")
512000000
>>> parse_bytes(1024)
1024
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cytoplan.exceptions import ParameterError

__all__ = ["DEFAULT_MEMORY_LIMIT", "Settings", "parse_bytes", "settings"]

DEFAULT_MEMORY_LIMIT = "2GiB"

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$")


def parse_bytes(size: str | int) -> int:
    """Turn ``"2GiB"``, ``"500MB"`` or an integer into a number of bytes."""
    if isinstance(size, int):
        if size <= 0:
            msg = f"a memory size must be positive, got {size}"
            raise ParameterError(msg)
        return size
    match = _SIZE.match(size)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        msg = f"cannot read {size!r} as a memory size; write e.g. '2GiB', '500MB' or 1073741824"
        raise ParameterError(msg)
    value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        msg = f"a memory size must be positive, got {size!r}"
        raise ParameterError(msg)
    return value


@dataclass(frozen=True)
class Settings:
    """Resolved runtime settings."""

    memory_limit: int
    threads: int
    temp_dir: Path


def settings(
    memory_limit: str | int | None = None,
    threads: int | None = None,
    temp_dir: str | Path | None = None,
) -> Settings:
    """Resolve settings from arguments, then the environment, then defaults."""
    limit = memory_limit or os.environ.get("CYTOPLAN_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
    n_threads = threads or int(os.environ.get("CYTOPLAN_THREADS", "0")) or (os.cpu_count() or 1)
    tmp = temp_dir or os.environ.get("CYTOPLAN_TEMP_DIR") or tempfile.gettempdir()
    return Settings(memory_limit=parse_bytes(limit), threads=n_threads, temp_dir=Path(tmp))
