"""Shared bits of the benchmarks: CPU accounting of process trees, result line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

CLK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(ppid, own cpu seconds, reaped children's cpu seconds)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, (utime + stime) / CLK, (cutime + cstime) / CLK


def own_cpu(pid: int) -> float:
    """CPU seconds of this one process (threads included, children not)."""
    st = _stat(pid)
    return st[1] if st else 0.0


def tree_cpu(root_pids: list[int]) -> float:
    """CPU seconds used so far by these processes and all their descendants (live and reaped)."""
    stats: dict[int, tuple[int, float, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                stats[int(entry.name)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total = 0.0
    todo = [p for p in root_pids if p in stats]
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        _, own, reaped = stats[pid]
        total += own + reaped
        todo.extend(children.get(pid, []))
    return total


def result(bench: str, metric: str, unit: str, ronda: float, baseline: float, baseline_name: str, **extra: Any) -> str:
    doc = {
        "bench": bench,
        "metric": metric,
        "unit": unit,
        "ronda": round(ronda, 4),
        "baseline": round(baseline, 4),
        "baseline_name": baseline_name,
        "ratio": round(ronda / baseline, 4) if baseline else None,
    }
    doc.update(extra)
    return json.dumps(doc)


def wait_up(url: str, proc: subprocess.Popen[bytes], log_file: Path, seconds: float = 120) -> None:
    """Until ``url`` answers over HTTP (any status); exits with the server's log if it dies or never answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {proc.returncode}:\n{log_file.read_text()[-3000:]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds} s:\n{log_file.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGINT, then SIGKILL after 20 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
