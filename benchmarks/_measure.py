"""Run one benchmark step in its own process; record wall time, CPU time and peak RSS.

Peak RSS is the largest sum of the resident set sizes of the process and all its
children, polled every 50 ms with psutil (``/usr/bin/time`` reports only the
largest single process, which misses parallel children). A step can be capped:
``memory_cap`` kills the process tree when it exceeds that many bytes (a
watchdog, since the machine has no swap), and ``address_space`` runs it under
``prlimit --as`` (a hard cap: allocations beyond it fail inside the process).

Usage::

    from _measure import run_step
    result = run_step("floor", ["bash", "-c", "sqlite3 plate.sqlite < q.sql"])
    print(result.wall_s, result.peak_rss_gib, result.status)
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

__all__ = ["StepResult", "machine_load", "run_step", "write_results"]

GIB = 1024**3


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
) -> StepResult:
    """Run ``command``; poll its process tree; return timings, peak RSS and status."""
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

    def drain(stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)
            if len(sink) > 400:
                del sink[:200]

    readers = [
        threading.Thread(target=drain, args=(proc.stdout, out_chunks), daemon=True),
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
        wall_s=round(wall, 2),
        cpu_s=round(cpu, 2),
        peak_rss_gib=round(peak / GIB, 3),
        status=status,
        returncode=returncode if returncode is not None else -1,
        load_before=round(load, 2),
        stdout_tail="".join(out_chunks)[-2000:],
        stderr_tail="".join(err_chunks)[-2000:],
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


def write_results(results: list[StepResult], path: str | Path, meta: dict[str, object]) -> None:
    """Save results (and run metadata) as JSON."""
    payload = {"meta": meta, "steps": [asdict(r) for r in results]}
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")
