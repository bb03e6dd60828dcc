"""Run one benchmark step in its own process; record wall time, CPU time and peak RSS.

Peak RSS is the largest sum of the resident set sizes of the process and all its
children, polled every 50 ms with psutil (``/usr/bin/time`` reports only the
largest single process, which misses parallel children). A step can be capped:
``memory_cap`` kills the process tree when it exceeds that many bytes (a
watchdog, since the machine has no swap), and ``address_space`` runs it under
``prlimit --as`` (a hard cap: allocations beyond it fail inside the process).
CPU time is the child's ``rusage`` (user + system), which includes the
descendants it waited for.

Usage::

    from _measure import run_step
    result = run_step("floor", ["bash", "-c", "sqlite3 plate.sqlite < q.sql"])
    print(result.wall_s, result.peak_rss_gib, result.status)

The case-based harnesses (``aggregate.py``, ``normalize.py``, ``correlation.py``)
run one case per child process, which prints its extra figures as a last JSON
line; ``case_record`` turns a ``StepResult`` into their flat per-run record and
``add_floor_ratios`` adds ``wall_vs_floor``. Paths written to
``benchmarks/results/`` go through ``scrub_paths`` / ``relative_command`` so that
no absolute machine path ends up there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

__all__ = [
    "BENCH_DATA",
    "GIB",
    "StepResult",
    "add_floor_ratios",
    "case_record",
    "last_json",
    "machine_load",
    "max_abs_diff",
    "parquet_features",
    "plate_path",
    "relative_command",
    "run_child_case",
    "run_step",
    "scrub_paths",
    "write_results",
]

GIB = 1024**3
#: Where generated benchmark plates live (not in git): ``$CYTOPLAN_BENCH_DATA`` or
#: ``cytoplan-bench`` in the system's temporary folder.
BENCH_DATA = Path(
    os.environ.get("CYTOPLAN_BENCH_DATA") or Path(tempfile.gettempdir()) / "cytoplan-bench"
)


def plate_path(name: str) -> str:
    """A ``--plate`` argument: a path, or one relative to :data:`BENCH_DATA` (``L/plate_sc.parquet``)."""
    given = Path(name)
    if given.exists() or given.is_absolute():
        return str(given)
    return str(BENCH_DATA / given)


@dataclass
class StepResult:
    """Outcome of one measured step."""

    name: str
    command: list[str]
    wall_s: float
    cpu_s: float
    peak_rss_gib: float
    status: str
    returncode: int
    load_before: float
    stdout_tail: str = ""
    stderr_tail: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    # the last stdout line that parses as a JSON object (whole, unlike stdout_tail);
    # not written by ``write_results``
    payload: dict[str, object] | None = field(default=None, repr=False)


def run_child_case(
    cases: dict[str, Callable[..., dict[str, object]]], name: str, *args: object
) -> None:
    """In a case's child process: run ``cases[name](*args)`` and print its JSON.

    cytoplan cases import cytoplan before Polars, as the CLI and recipes do, so that
    cytoplan can turn on Polars' Parquet metadata pruning (docs/benchmarks.md).
    """
    if name.startswith("cytoplan"):
        import cytoplan  # noqa: F401
    print(json.dumps(cases[name](*args)))


def machine_load() -> float:
    """1-minute load average (the machine is shared: figures carry that noise)."""
    return os.getloadavg()[0]


def _tree_rss(proc: psutil.Process) -> int:
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    rss = 0
    for member in members:
        try:
            rss += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return rss


def run_step(
    name: str,
    command: list[str],
    *,
    memory_cap: int | None = None,
    address_space: int | None = None,
    timeout_s: float = 3600.0,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    digits: int = 2,
) -> StepResult:
    """Run ``command``; poll its process tree; return timings, peak RSS and status.

    ``digits`` is the rounding of ``wall_s`` and ``cpu_s``.
    """
    full = list(command)
    if address_space is not None:
        full = ["prlimit", f"--as={int(address_space)}", "--", *full]
    load = machine_load()
    started = time.perf_counter()
    proc = subprocess.Popen(
        full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        text=True,
    )
    watched = psutil.Process(proc.pid)
    peak = 0
    status = "ok"
    out_chunks: list[str] = []
    err_chunks: list[str] = []

    payload: list[dict[str, object]] = []

    def drain(stream, sink: list[str], keep_json: bool = False) -> None:
        for line in stream:
            if keep_json and line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found = json.loads(line)
                    if isinstance(found, dict):
                        payload[:] = [found]
            sink.append(line)
            if len(sink) > 400:
                del sink[:200]

    readers = [
        threading.Thread(target=drain, args=(proc.stdout, out_chunks, True), daemon=True),
        threading.Thread(target=drain, args=(proc.stderr, err_chunks), daemon=True),
    ]
    for reader in readers:
        reader.start()
    returncode: int | None = None
    cpu = 0.0
    while True:
        pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            # rusage of the child includes the descendants it waited for
            returncode = os.waitstatus_to_exitcode(code)
            cpu = usage.ru_utime + usage.ru_stime
            break
        rss = _tree_rss(watched)
        peak = max(peak, rss)
        if memory_cap is not None and rss > memory_cap and status == "ok":
            status = f"killed at {rss / GIB:.2f} GiB (cap {memory_cap / GIB:.1f} GiB)"
            _kill_tree(watched)
        if time.perf_counter() - started > timeout_s and status == "ok":
            status = f"killed after {timeout_s:.0f} s (timeout)"
            _kill_tree(watched)
        time.sleep(0.05)
    proc.returncode = returncode
    wall = time.perf_counter() - started
    for reader in readers:
        reader.join(timeout=5)
    if status == "ok" and returncode != 0:
        status = f"failed (exit {returncode})"
    return StepResult(
        name=name,
        command=full,
        wall_s=round(wall, digits),
        cpu_s=round(cpu, digits),
        peak_rss_gib=round(peak / GIB, 3),
        status=status,
        returncode=returncode if returncode is not None else -1,
        load_before=round(load, 2),
        stdout_tail="".join(out_chunks)[-2000:],
        stderr_tail="".join(err_chunks)[-2000:],
        payload=payload[0] if payload else None,
    )


def _kill_tree(proc: psutil.Process) -> None:
    try:
        members = [*proc.children(recursive=True), proc]
    except psutil.NoSuchProcess:
        return
    for member in members:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            continue


def write_results(
    results: list[StepResult],
    path: str | Path,
    meta: dict[str, object],
    *,
    base: str | Path | None = None,
) -> None:
    """Save results (and run metadata) as JSON.

    Absolute paths (in commands, output tails, extras, metadata) are written
    relative to ``base`` (the data folder) or as file names (``scrub_paths``).
    """
    steps = []
    for result in results:
        step = asdict(result)
        step.pop("payload")
        steps.append(_scrubbed(step, base))
    payload = {"meta": _scrubbed(meta, base), "steps": steps}
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")


def _scrubbed(value: object, base: str | Path | None) -> object:
    if isinstance(value, str):
        return scrub_paths(value, base)
    if isinstance(value, dict):
        return {key: _scrubbed(item, base) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(item, base) for item in value]
    return value


# --------------------------------------------------------------------------- case records


def last_json(text: str) -> dict[str, object] | None:
    """The last line of ``text`` that is a JSON object (a child's figures), or None."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                continue
            if isinstance(found, dict):
                return found
    return None


def case_record(result: StepResult, *, cpu: bool = True) -> dict[str, object]:
    """A case's flat record: timings, peak RSS, exit code, the child's JSON, status.

    The status is ``ok`` when the child exited 0 and printed its JSON; otherwise
    ``failed: ...`` or ``killed ...: ...`` (watchdog or timeout) followed by the
    last three lines of its stderr, with absolute paths reduced to file names.
    """
    record: dict[str, object] = {"wall_s": result.wall_s}
    if cpu:
        record["cpu_s"] = result.cpu_s
    record["peak_rss_gib"] = result.peak_rss_gib
    record["returncode"] = result.returncode
    figures = result.payload if result.payload is not None else last_json(result.stdout_tail)
    if result.status == "ok" and figures is not None:
        record.update(figures)
        record["status"] = "ok"
    else:
        tail = " | ".join(result.stderr_tail.strip().splitlines()[-3:])[-400:]
        reason = result.status if result.status.startswith("killed") else "failed"
        record["status"] = f"{reason}: {scrub_paths(tail)}"
    return record


def add_floor_ratios(
    records: list[dict[str, object]], floor_case: str = "floor"
) -> list[dict[str, object]]:
    """Copies of ``records`` with ``wall_vs_floor`` (wall time / best ok floor run)."""
    floor = [
        float(r["wall_s"])  # type: ignore[arg-type]
        for r in records
        if r["case"] == floor_case and r["status"] == "ok"
    ]
    floor_s = min(floor) if floor else None
    return [
        {
            **r,
            "wall_vs_floor": round(float(r["wall_s"]) / floor_s, 2)  # type: ignore[arg-type]
            if floor_s and r["status"] == "ok"
            else None,
        }
        for r in records
    ]


# --------------------------------------------------------------------------- paths

# an absolute path of two or more parts: not a relative a/b, nor the host part of a URL
# (https://host/...), but the path of sqlite:///abs/path
_ABSOLUTE = re.compile(
    r"(?:(?<![\w.~/-])|(?<=://)|(?<=:///))/(?:[^\s/'\"`:,;()\[\]{}<>|=]+/)+[^\s/'\"`:,;()\[\]{}<>|=]*"
)
_KEPT = ("/dev/", "/proc/")


def scrub_paths(text: str, base: str | Path | None = None) -> str:
    """``text`` with absolute paths made relative to ``base`` or cut to their file name.

    For what goes into ``benchmarks/results/``: no machine path (a temporary folder,
    the checkout, a venv's python) is kept; ``/dev/null`` and the like are.
    """
    if base is not None:
        root = str(Path(base).resolve()).rstrip("/") + "/"
        text = text.replace(root, "")
        text = text.replace(str(base).rstrip("/") + "/", "")

    def short(match: re.Match[str]) -> str:
        path = match.group(0)
        if path.startswith(_KEPT):
            return path
        return path.rstrip("/").rsplit("/", 1)[-1]

    return _ABSOLUTE.sub(short, text)


def relative_command(command: list[str], base: str | Path | None = None) -> list[str]:
    """``command`` with every absolute path made relative to ``base`` or a file name."""
    return [scrub_paths(part, base) for part in command]


# --------------------------------------------------------------------------- Parquet helpers


def parquet_features(path: str | Path) -> list[str]:
    """Numeric ``Cells_``/``Cytoplasm_``/``Nuclei_`` columns of a Parquet plate."""
    import polars as pl

    schema = pl.scan_parquet(path).collect_schema()
    return [
        name
        for name, dtype in schema.items()
        if name.startswith(("Cells_", "Cytoplasm_", "Nuclei_")) and dtype.is_numeric()
    ]


def max_abs_diff(
    reference: str | Path,
    other: str | Path,
    *,
    columns: list[str] | None = None,
    sort_by: list[str] | None = None,
) -> float | None:
    """Largest absolute difference between two Parquet results (None: one is missing).

    ``columns``: the columns compared (default: those of ``reference`` outside
    ``sort_by`` that ``other`` has too); ``sort_by``: sort both on these first.
    Different heights (or nothing to compare) give ``inf``.
    """
    import polars as pl

    if not (Path(reference).exists() and Path(other).exists()):
        return None
    if columns is None:
        a, b = pl.read_parquet(reference), pl.read_parquet(other)
        keys = sort_by or []
        columns = [c for c in a.columns if c not in keys and c in b.columns]
    else:
        a = pl.scan_parquet(reference).select(*(sort_by or []), *columns).collect()
        b = pl.scan_parquet(other).select(*(sort_by or []), *columns).collect()
    if sort_by:
        a, b = a.sort(sort_by), b.sort(sort_by)
    if a.height != b.height or not columns:
        return float("inf")
    diff = (a.select(columns) - b.select(columns)).select(pl.all().abs().max()).max_horizontal()
    value = diff.item()
    return 0.0 if value is None else float(value)
