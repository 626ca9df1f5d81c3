"""Benchmark: CPU per recorded stream, Ronda (whole process tree) vs bare ``ffmpeg -c copy -f segment``.

Both record the same simulated 1080p cameras in the same run, one after the other, over the same
measuring window after a warm-up, in ``--rounds`` alternating rounds (baseline first in odd rounds,
Ronda first in even ones); the figures are the medians over the rounds, since this VM's CPU time for
the same work drifts by 10-30 % over minutes. Also counts unexplained holes in Ronda's catalog.

    python bench/record.py [--cameras 32] [--seconds 60] [--warmup 15] [--rounds 3] [--no-idle]

The ``components`` of the last line split Ronda's CPU (% of one core for all streams, medians):
``loop_user``/``loop_sys`` (the supervisor's event-loop thread), ``workers_user``/``workers_sys`` (its
worker threads: hashing, syncing, catalog writes), ``sha256_estimate`` (of the workers' share: SHA-256 of
the window's segments, hashed again here), ``ffmpeg_children``, and ``idle_server`` (``ronda serve``
with no camera, measured once before the rounds).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import RondaProcess, free_port, uncovered, write_config  # noqa: E402

from bench._common import CLK, own_cpu, result, tree_cpu  # noqa: E402
from ronda.devices import simmedia  # noqa: E402
from ronda.devices.simcontrol import SimulatorProcess  # noqa: E402

FRAME_MS = 1000 / 15


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of one process by component: its main thread (the event loop) and its other threads
    (the worker threads: hashing, syncing, catalog writes), each as user and system time."""
    out = {"loop_user": 0.0, "loop_sys": 0.0, "workers_user": 0.0, "workers_sys": 0.0}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:  # the thread ended
            continue
        fields = text[text.rindex(")") + 2 :].split()
        who = "loop" if tid == str(pid) else "workers"
        out[f"{who}_user"] += int(fields[11]) / CLK
        out[f"{who}_sys"] += int(fields[12]) / CLK
    return out


def measure(pids: list[int], warmup: float, seconds: float, label: str) -> tuple[float, float, dict[str, float]]:
    """(cores used by the trees of ``pids``, cores used by the first pid alone, that pid's cores by
    component) over ``seconds``. Threads that end during the window are missed by the split (not the
    total): the worker pool keeps its threads."""
    for left in range(int(warmup), 0, -5):
        log(f"  {label}: warming up, {left} s")
        time.sleep(min(5, left))
    c0, o0, p0, t0 = tree_cpu(pids), own_cpu(pids[0]), thread_cpu(pids[0]), time.monotonic()
    end = t0 + seconds
    while (left := end - time.monotonic()) > 0:
        log(f"  {label}: measuring, {left:.0f} s left")
        time.sleep(min(10, left))
    dt = time.monotonic() - t0
    p1 = thread_cpu(pids[0])
    parts = {k: (p1[k] - p0.get(k, 0.0)) / dt for k in p1}
    return (tree_cpu(pids) - c0) / dt, (own_cpu(pids[0]) - o0) / dt, parts


def baseline(sim: SimulatorProcess, n: int, out: Path, warmup: float, seconds: float) -> float:
    procs = []
    for i in range(1, n + 1):
        d = out / f"cam{i}"
        d.mkdir(parents=True)
        procs.append(
            subprocess.Popen(
                ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
                 "-i", sim.url(f"cam{i}"), "-map", "0:v:0", "-c", "copy", "-f", "segment", "-segment_time", "6",
                 "-segment_format", "mp4", "-reset_timestamps", "1", str(d / "%06d.mp4")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
    try:
        cores, _, _ = measure([p.pid for p in procs], warmup, seconds, "baseline ffmpeg")
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait(20)
    return cores


def sha256_cores(data: Path, t_start: float, t_end: float) -> float:
    """Cores that SHA-256 of every segment catalogued in the window takes (the product's tamper evidence):
    CPU time of hashing up to 40 of those files again here (from the page cache, as the recorder does
    right after ffmpeg closed them), times the window's segments per second."""
    con = sqlite3.connect(data / "ronda.db")
    try:
        paths = [r[0] for r in con.execute("SELECT path FROM segments WHERE start_ms >= ? AND end_ms <= ?",
                                           (t_start, t_end))]  # fmt: skip
    finally:
        con.close()
    if not paths:
        return 0.0
    sample = paths[:: max(1, len(paths) // 40)][:40]
    c0 = time.process_time()
    for rel in sample:
        with (data / "recordings" / rel).open("rb") as f:
            hashlib.file_digest(f, "sha256")
    per_file = (time.process_time() - c0) / len(sample)
    return per_file * len(paths) / ((t_end - t_start) / 1000)


def idle_server(base: Path, warmup: float, seconds: float) -> float:
    """Cores that ``ronda serve`` with no camera uses (its timers, outbox and catalog polls)."""
    data = base / "data"
    port = free_port()
    cfg = write_config(data, port, [], storage={"check_interval_seconds": 5})
    proc = RondaProcess(cfg, base / "ronda.log", port)
    proc.start()
    try:
        cores, _, _ = measure([proc.pid], warmup, seconds, "idle ronda (no camera)")
    finally:
        proc.terminate()
    return cores


def ronda(
    sim: SimulatorProcess, n: int, base: Path, warmup: float, seconds: float
) -> tuple[float, float, dict[str, float], int, int]:
    data = base / "data"
    port = free_port()
    cams = [{"name": f"Camera {i}", "main": {"url": sim.url(f"cam{i}")}} for i in range(1, n + 1)]
    cfg = write_config(
        data,
        port,
        cams,
        recording={"segment_seconds": 6, "stall_timeout_seconds": 6},
        storage={"check_interval_seconds": 5},
    )  # production defaults
    subprocess.run([sys.executable, "-m", "ronda.cli", "db", "upgrade", "--config", str(cfg)], check=True,
                   capture_output=True)  # fmt: skip
    proc = RondaProcess(cfg, base / "ronda.log", port)
    proc.start()
    try:
        t_start = time.time() * 1000 + warmup * 1000
        cores, supervisor, parts = measure([proc.pid], warmup, seconds, "ronda")
        t_end = time.time() * 1000
    finally:
        proc.terminate()
    parts["sha256_estimate"] = sha256_cores(data, t_start, t_end)
    con = sqlite3.connect(data / "ronda.db")
    unexplained = explained = 0
    for cid in range(1, n + 1):
        segs = con.execute(
            "SELECT start_ms, end_ms FROM segments WHERE camera_id=? AND stream='main' ORDER BY start_ms", (cid,)
        ).fetchall()
        gaps = con.execute("SELECT start_ms, end_ms FROM gaps WHERE camera_id=? AND start_ms < ? AND "
                           "(end_ms IS NULL OR end_ms > ?)", (cid, t_end, t_start)).fetchall()  # fmt: skip
        explained += len(gaps)

        class S:  # adapt rows to the helper's shape
            def __init__(self, a: int, b: int | None) -> None:
                self.start_ms, self.end_ms = a, b

        holes = uncovered([S(a, b) for a, b in segs], [S(a, b) for a, b in gaps], int(t_start), int(t_end), int(t_end))
        unexplained += sum(1 for a, b in holes if b - a > FRAME_MS)
    con.close()
    return cores, supervisor, parts, unexplained, explained


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cameras", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--warmup", type=float, default=15)
    p.add_argument("--rounds", type=int, default=3, help="alternating baseline/Ronda rounds (medians)")
    p.add_argument("--no-idle", dest="idle", action="store_false",
                   help="skip measuring ronda serve without cameras (the idle_server component)")  # fmt: skip
    a = p.parse_args()
    log(f"preparing clips for {a.cameras} cameras (cached after the first run)")
    simmedia.prepare(simmedia.default_cache_dir(), a.cameras)
    rounds: list[tuple[float, float, float]] = []  # (ronda cores, baseline cores, supervisor cores)
    parts: list[dict[str, float]] = []  # the supervisor's cores by component, per round
    unexplained = explained = 0
    with tempfile.TemporaryDirectory(prefix="ronda-bench-") as tmp:
        base = Path(tmp)
        idle = idle_server(base / "idle", a.warmup, a.seconds) if a.idle else None
        sim = SimulatorProcess(cameras=a.cameras, log_dir=base)
        sim.start()
        try:
            for r in range(1, a.rounds + 1):
                order = ["baseline", "ronda"] if r % 2 else ["ronda", "baseline"]
                got: dict[str, float] = {}
                for which in order:
                    if which == "baseline":
                        log(f"round {r}/{a.rounds}, baseline: {a.cameras} bare ffmpeg -c copy -f segment")
                        got["b"] = baseline(sim, a.cameras, base / f"baseline{r}", a.warmup, a.seconds)
                    else:
                        log(f"round {r}/{a.rounds}, ronda: {a.cameras} cameras")
                        got["r"], got["s"], split, u, e = ronda(sim, a.cameras, base / f"ronda{r}", a.warmup,
                                                               a.seconds)  # fmt: skip
                        parts.append(split)
                        unexplained += u
                        explained += e
                rounds.append((got["r"], got["b"], got["s"]))
                log(f"round {r}: ratio {got['r'] / got['b']:.3f}")
        finally:
            sim.close()
    ronda_cores = statistics.median(x[0] for x in rounds)
    base_cores = statistics.median(x[1] for x in rounds)
    supervisor = statistics.median(x[2] for x in rounds)
    per_r = 100 * ronda_cores / a.cameras
    per_b = 100 * base_cores / a.cameras
    log(f"CPU per stream: ronda {per_r:.3f} %  baseline {per_b:.3f} %  ratio {per_r / per_b:.3f}")
    log(
        f"of which the Python supervisor: {100 * supervisor:.2f} % of a core for {a.cameras} streams; "
        f"ffmpeg children {100 * (ronda_cores - supervisor) / a.cameras:.3f} % per stream"
    )
    components = {k: round(100 * statistics.median(p[k] for p in parts), 3) for k in parts[0]} if parts else {}
    components["ffmpeg_children"] = round(100 * (ronda_cores - supervisor), 3)
    if idle is not None:
        components["idle_server"] = round(100 * idle, 3)
    log("per component, % of one core for all streams (medians): "
        + ", ".join(f"{k} {v:.2f}" for k, v in components.items()))  # fmt: skip
    log(f"gaps in the window: {unexplained} unexplained, {explained} explained")
    print(
        result("record", "cpu_percent_per_stream", "% of one core", per_r, per_b, "ffmpeg -c copy -f segment",
               cameras=a.cameras, gaps=unexplained, explained_gaps=explained, seconds=a.seconds,
               supervisor_cpu_percent=round(100 * supervisor, 3), rounds=a.rounds,
               round_ratios=[round(x[0] / x[1], 3) for x in rounds], components=components)
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
