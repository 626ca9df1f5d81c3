"""Benchmark: how many cameras (main + sub stream) this box records gap-free, the simulator running on it.

Ramps the number of simulated cameras from ``--start`` by ``--step`` up to ``--max``. Each step starts
the simulator afresh (``--cameras-per-sim`` cameras per simulator process: one Python thread pushes every
frame of a simulator, so one process for 250 cameras would measure the simulator), a fresh ``ronda serve``
recording every camera's main and sub stream on production defaults (6 s segments, analytics off unless
``--analytics``), waits for every stream's first segment and ``--warmup`` seconds more, then watches
``--minutes``:

- CPU of Ronda's process tree (supervisor and ffmpeg children) and, apart, of the simulators' trees;
- RSS (and PSS: shared pages counted once) of Ronda's tree at the end, open file descriptors;
- ``GET /metrics`` every 5 s: the event-loop lag gauge, each stream's segment lag (a stream *falls behind*
  when its newest segment ended more than 2 segment lengths ago) and its recorder state;
- the simulators' pacers (``GET /health``): ticks late or skipped mean the simulator ran short of CPU;
- at the end, the catalog over the window: holes covered by no segment and no gap row (unexplained) and
  gap rows (explained: reconnects, stalls). A step passes with no hole, no gap row, no stream behind,
  no skipped simulator tick. A gap row counts as a failure too: its video is lost all the same.

The first failing step ends the ramp; ``ronda`` is the last passing count, and ``broke`` says what gave
out first (file descriptors, the simulator, the event loop, SQLite writes, the disk, the CPU).
Recordings take ~0.5 MB/s per camera (45 GB for 150 cameras in 10 min): every camera keeps
``--retention-minutes`` (5) of footage, so retention deletes while Ronda records, as on a box that has run
for its retention period, and the catalog is checked a minute at a time before its rows go. A step that
would leave less than 10 GB free on the disk is not started.

    python bench/capacity.py [--start 100] [--step 25] [--max 250] [--minutes 10] [--cameras-per-sim 50]
    python bench/capacity.py --start 4 --step 4 --max 8 --minutes 1      # trying it out
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from tests.helpers import GapRow, RondaProcess, SegRow, free_port, uncovered, write_config  # noqa: E402

from bench._common import own_cpu, result, tree_cpu  # noqa: E402
from ronda.devices import simmedia  # noqa: E402
from ronda.devices.simcontrol import SimulatorError, SimulatorProcess  # noqa: E402

SEGMENT_S = 6.0  # the production default (RecordingConfig.segment_seconds)
FRAME_MS = 1000 / simmedia.FPS
SCRAPE_S = 5.0  # /metrics is cached that long anyway
GOAL = 150


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ process and machine readings


def tree_pids(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(raw[raw.rindex(")") + 2 :].split()[1])
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(p for p, pp in parents.items() if pp == pid)
    return out


def memory_mb(root: int, tree: bool = True) -> tuple[float, float, int]:
    """(RSS, PSS, processes) of the tree of ``root`` (or of ``root`` alone), in MB."""
    rss = pss = 0.0
    pids = tree_pids(root) if tree else [root]
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) / 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
        except OSError:
            pass
    return rss, pss, len(pids)


def open_fds(pid: int) -> tuple[int, int]:
    """(open file descriptors, soft limit) of one process."""
    try:
        n = len(list(Path(f"/proc/{pid}/fd").iterdir()))
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return n, int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return 0, 0


def machine_times() -> tuple[float, float, float]:
    """(busy, iowait, total) jiffies of the whole machine."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = f[3], f[4]
    total = sum(f[:8])
    return total - idle - iowait, iowait, total


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def bytes_per_camera_second() -> float:
    """Main + sub stream bit rate of a simulated camera (from the prepared clips)."""
    main, sub = simmedia.camera_files(simmedia.default_cache_dir(), 1)
    return (main.stat().st_size + sub.stat().st_size) / simmedia.CLIP_SECONDS


# ------------------------------------------------------------------ one step


@dataclass
class Step:
    cameras: int
    passed: bool = False
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ronda_cpu: float = 0.0  # % of one core, whole tree
    supervisor_cpu: float = 0.0  # % of one core, the Python process alone
    cpu_per_camera: float = 0.0
    sim_cpu: float = 0.0  # % of one core, all simulators
    sim_cpu_max_process: float = 0.0
    machine_busy: float = 0.0  # % of all cores
    machine_iowait: float = 0.0
    rss_mb: float = 0.0
    pss_mb: float = 0.0
    rss_mb_per_camera: float = 0.0
    pss_mb_per_camera: float = 0.0
    supervisor_rss_mb: float = 0.0
    processes: int = 0
    fds: int = 0
    fd_limit: int = 0
    loop_lag_ms_p50: float = 0.0
    loop_lag_ms_max: float = 0.0
    segment_lag_s_max: float = 0.0
    streams_behind: int = 0
    not_recording: int = 0
    gaps: int = 0  # unexplained holes
    explained_gaps: int = 0
    gap_reasons: dict[str, int] = field(default_factory=dict)
    write_mb_s: float = 0.0
    sim_late: int = 0
    sim_skipped: int = 0
    sim_max_late_ms: int = 0
    log_errors: dict[str, int] = field(default_factory=dict)
    broke: str = ""
    startup_s: float = 0.0  # launch of ronda serve to its first answer (every camera's capture started)
    first_segments_s: float = 0.0  # launch to every stream having a catalogued segment


LOG_SIGNS = {
    "fds": re.compile(r"Too many open files|EMFILE"),
    "sqlite_locked": re.compile(r"database is locked"),
    "errors": re.compile(r"\bERROR\b|Traceback"),
}


LAST_SCRAPE_ERROR = [""]  # why the last scrape gave nothing (for the start-up's progress lines)


def scrape(base: str, token: str) -> dict[str, Any] | None:
    try:
        r = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    except httpx.HTTPError as e:
        LAST_SCRAPE_ERROR[0] = f"/metrics: {type(e).__name__}"
        return None
    if r.status_code != 200:
        LAST_SCRAPE_ERROR[0] = f"/metrics answered {r.status_code}"
        return None
    LAST_SCRAPE_ERROR[0] = ""
    lag = 0.0
    seg_lag: dict[tuple[str, str], float] = {}
    states: dict[tuple[str, str], str] = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            if s.name == "ronda_event_loop_lag_seconds":
                lag = s.value
            elif s.name == "ronda_camera_segment_lag_seconds":
                seg_lag[(s.labels["camera"], s.labels["stream"])] = s.value
            elif s.name == "ronda_camera_recording" and s.value == 1:
                states[(s.labels["camera"], s.labels["stream"])] = s.labels["state"]
    return {"lag": lag, "seg_lag": seg_lag, "states": states}


def pacers(sims: list[SimulatorProcess]) -> tuple[int, int, int]:
    """(late, skipped, max_late_ms) of the 15 fps pushers of all simulators."""
    late = skipped = worst = 0
    for sim in sims:
        try:
            p = sim.health().get("pacers", {}).get(str(simmedia.FPS), {})
        except (OSError, ValueError, SimulatorError):
            continue
        late += int(p.get("late", 0))
        skipped += int(p.get("skipped", 0))
        worst = max(worst, int(p.get("max_late_ms", 0)))
    return late, skipped, worst


class Coverage:
    """The catalog over the window, checked a piece at a time while Ronda records: retention (at
    ``--retention-minutes``, so the disk holds a step) deletes the oldest segments meanwhile, as on a box
    that has run for its retention period, so each piece is read while its rows are still there."""

    def __init__(self, db: Path, n: int, t0: int) -> None:
        self.db, self.n, self.checked = db, n, t0
        self.unexplained = 0
        self.gap_rows: dict[tuple[int, str, int], str] = {}  # (camera, stream, start) -> reason
        self.segments: dict[tuple[int, str, int], int] = {}

    def check(self, upto: int) -> None:
        """Holes covered by no segment and no gap row in [checked, upto] of every main and sub stream."""
        t0, t1 = self.checked, upto
        if t1 <= t0:
            return
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=60)
        try:
            ids = [cid for (cid,) in con.execute("SELECT id FROM cameras WHERE deleted_ms IS NULL ORDER BY id")]
            if len(ids) != self.n:
                raise SystemExit(f"the catalog has {len(ids)} cameras, {self.n} expected")
            for cid in ids:
                for stream in ("main", "sub"):
                    segs = [SegRow(0, cid, stream, a, b, nb, "", "", False) for a, b, nb in con.execute(
                        "SELECT start_ms, end_ms, bytes FROM segments WHERE camera_id=? AND stream=? AND end_ms > ? "
                        "AND start_ms < ? ORDER BY start_ms", (cid, stream, t0, t1))]  # fmt: skip
                    gaps = [GapRow(cid, stream, a, b, r) for a, b, r in con.execute(
                        "SELECT start_ms, end_ms, reason FROM gaps WHERE camera_id=? AND stream=? AND start_ms < ? "
                        "AND (end_ms IS NULL OR end_ms > ?)", (cid, stream, t1, t0))]  # fmt: skip
                    self.gap_rows.update(((cid, stream, g.start_ms), g.reason) for g in gaps)
                    self.segments.update(((cid, stream, sg.start_ms), sg.bytes) for sg in segs)
                    holes = uncovered(segs, gaps, t0, t1, t1)
                    self.unexplained += sum(1 for a, b in holes if b - a > FRAME_MS)
        finally:
            con.close()
        self.checked = t1


def diagnose(st: Step, ronda_rc: int | None) -> str:
    """What gave out first, from the step's readings (the most specific sign first)."""
    signs = []
    if ronda_rc is not None:
        signs.append(f"Ronda exited with {ronda_rc} during the step")
    if st.log_errors.get("fds") or (st.fd_limit and st.fds > 0.9 * st.fd_limit):
        signs.append(f"file descriptors ({st.fds} open of {st.fd_limit})")
    if st.sim_skipped or st.sim_cpu_max_process > 90:
        signs.append(f"the simulator ({st.sim_skipped} ticks skipped, {st.sim_late} late up to "
                     f"{st.sim_max_late_ms} ms; busiest simulator process "
                     f"{st.sim_cpu_max_process:.0f} % of a core)")  # fmt: skip
    if st.log_errors.get("sqlite_locked"):
        signs.append(f"SQLite writes ({st.log_errors['sqlite_locked']} 'database is locked' in the log)")
    if st.loop_lag_ms_max > 1000:
        signs.append(f"the event loop (lag up to {st.loop_lag_ms_max:.0f} ms)")
    if st.machine_iowait > 20:
        signs.append(f"the disk ({st.machine_iowait:.0f} % of the cores waiting for I/O, {st.write_mb_s:.0f} MB/s)")
    if st.machine_busy > 95:
        signs.append(f"the CPU ({st.machine_busy:.0f} % of all cores busy)")
    if not signs:
        signs.append(f"no single resource ran out (gap reasons {st.gap_reasons}; see Ronda's log)")
    return "; ".join(signs)


def run_step(n: int, a: argparse.Namespace, base: Path) -> Step:
    st = Step(cameras=n)
    base.mkdir(parents=True)
    per = a.cameras_per_sim or n
    sizes = [min(per, n - i) for i in range(0, n, per)]
    sims: list[SimulatorProcess] = []
    ronda: RondaProcess | None = None
    ronda_rc: int | None = None
    try:
        for j, size in enumerate(sizes):
            sims.append(SimulatorProcess(cameras=size, log_dir=base / f"sim{j + 1}").start())
        cams: list[dict[str, Any]] = []
        for j, size in enumerate(sizes):
            for k in range(1, size + 1):
                i = len(cams) + 1
                cams.append({"name": f"Camera {i}", "main": {"url": sims[j].url(f"cam{k}")},
                             "sub": {"url": sims[j].url(f"cam{k}", sub=True)}})  # fmt: skip
        token = secrets.token_urlsafe(24)
        (base / "metrics.token").write_text(token)
        data, port = base / "data", free_port()
        cfg = write_config(
            data, port, cams,
            recording={"segment_seconds": SEGMENT_S, "stall_timeout_seconds": 6.0, "backoff_max_seconds": 10.0},
            storage={"check_interval_seconds": 5.0, "default_retention_days": a.retention_minutes / 1440},
            http={"metrics_token_file": str(base / "metrics.token")},
            analytics={"enabled": a.analytics},
            log_level=a.log_level,
        )  # production defaults but analytics (off unless --analytics) and retention  # fmt: skip
        ronda = RondaProcess(cfg, base / "ronda.log", port)
        log(f"  {n} cameras: {len(sims)} simulator process(es); starting Ronda")
        t_launch = time.monotonic()
        ronda.start(timeout=180)
        st.startup_s = round(time.monotonic() - t_launch, 1)
        t_start = time.monotonic()
        deadline, last_note = t_start + 60 + n * 0.5, t_start
        while True:
            m = scrape(ronda.base, token)
            ready = len(m["seg_lag"]) if m else 0
            if ready >= 2 * n:
                break
            if time.monotonic() > deadline or ronda.proc is None or ronda.proc.poll() is not None:
                ronda_rc = ronda.proc.returncode if ronda.proc is not None else None
                st.failures.append(f"only {ready} of {2 * n} streams had a segment after the start"
                                   + (f" ({LAST_SCRAPE_ERROR[0]})" if LAST_SCRAPE_ERROR[0] else ""))  # fmt: skip
                return st
            if time.monotonic() - last_note > 15:
                last_note = time.monotonic()
                states = Counter(m["states"].values()) if m else {}
                log(f"  {n} cameras: {time.monotonic() - t_start:.0f} s after the start, {ready} of {2 * n} "
                    f"streams have a segment; states {dict(states)}; {len(tree_pids(ronda.pid))} processes"
                    + (f"; {LAST_SCRAPE_ERROR[0]}" if LAST_SCRAPE_ERROR[0] else ""))  # fmt: skip
            time.sleep(2)
        st.first_segments_s = round(time.monotonic() - t_launch, 1)
        log(f"  {n} cameras: every stream has a segment {st.first_segments_s:.0f} s after the launch (Ronda "
            f"answered after {st.startup_s:.0f} s); warming up {a.warmup:.0f} s")  # fmt: skip
        time.sleep(a.warmup)

        sim_roots = [s.pid for s in sims if s.pid is not None]
        late0, skipped0, _ = pacers(sims)
        assert ronda.proc is not None
        c0, s0 = tree_cpu([ronda.pid]), [tree_cpu([p]) for p in sim_roots]
        sup0 = own_cpu(ronda.pid)
        m0, t_mono, t0 = machine_times(), time.monotonic(), int(time.time() * 1000)
        lags: list[float] = []
        end = t_mono + a.minutes * 60
        last_note = 0.0
        cover = Coverage(data / "ronda.db", n, t0)
        settled_ms = int(3 * SEGMENT_S * 1000)  # older than this, a stream's segments are in the catalog
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(SCRAPE_S, left))
            if ronda.proc.poll() is not None:
                ronda_rc = ronda.proc.returncode
                st.failures.append(f"Ronda exited with {ronda_rc}")
                break
            if any(s.proc is None or s.proc.poll() is not None for s in sims):
                st.failures.append("a simulator process exited")
                break
            m = scrape(ronda.base, token)
            if m is None:
                continue
            lags.append(m["lag"] * 1000)
            worst = max(m["seg_lag"].values(), default=0.0)
            st.segment_lag_s_max = max(st.segment_lag_s_max, worst)
            behind = [k for k, v in m["seg_lag"].items() if v > 2 * SEGMENT_S]
            off = [k for k, v in m["states"].items() if v != "recording"]
            st.streams_behind = max(st.streams_behind, len(behind))
            st.not_recording = max(st.not_recording, len(off))
            if behind:
                st.failures.append(f"{len(behind)} stream(s) fell behind (newest segment {worst:.1f} s old, "
                                   f"e.g. camera {behind[0][0]} {behind[0][1]})")  # fmt: skip
                break
            if time.monotonic() - last_note > 60:
                last_note = time.monotonic()
                cover.check(int(time.time() * 1000) - settled_ms)
                log(f"  {n} cameras: {left / 60:.1f} min left; loop lag {lags[-1]:.1f} ms, segment lag max "
                    f"{worst:.1f} s, {len(off)} stream(s) not recording")  # fmt: skip
        dt = time.monotonic() - t_mono
        t1 = int(time.time() * 1000)
        st.seconds = round(dt, 1)
        st.ronda_cpu = 100 * (tree_cpu([ronda.pid]) - c0) / dt
        st.supervisor_cpu = 100 * (own_cpu(ronda.pid) - sup0) / dt
        sim_each = [100 * (tree_cpu([p]) - c) / dt for p, c in zip(sim_roots, s0, strict=True)]
        st.sim_cpu, st.sim_cpu_max_process = sum(sim_each), max(sim_each, default=0.0)
        m1 = machine_times()
        total = max(1, m1[2] - m0[2])
        st.machine_busy, st.machine_iowait = 100 * (m1[0] - m0[0]) / total, 100 * (m1[1] - m0[1]) / total
        st.rss_mb, st.pss_mb, st.processes = memory_mb(ronda.pid)
        st.supervisor_rss_mb = memory_mb(ronda.pid, tree=False)[0]
        st.fds, st.fd_limit = open_fds(ronda.pid)
        late1, skipped1, st.sim_max_late_ms = pacers(sims)
        st.sim_late, st.sim_skipped = late1 - late0, skipped1 - skipped0
        if lags:
            st.loop_lag_ms_p50, st.loop_lag_ms_max = statistics.median(lags), max(lags)
        log(f"  {n} cameras: window over ({dt:.0f} s); stopping Ronda")
        try:
            ronda.terminate(timeout=120)  # closes the open segments: the window's end is covered
            ronda = None
        except subprocess.TimeoutExpired:
            st.failures.append("Ronda did not stop within 120 s of SIGTERM")
        cover.check(t1)
        st.gaps, st.explained_gaps = cover.unexplained, len(cover.gap_rows)
        st.gap_reasons = dict(Counter(cover.gap_rows.values()))
        st.write_mb_s = sum(cover.segments.values()) / dt / 1e6
        if st.gaps:
            st.failures.append(f"{st.gaps} unexplained hole(s) in the catalog")
        if st.explained_gaps:
            st.failures.append(f"{st.explained_gaps} gap row(s) in the window (video lost)")
        if st.sim_skipped:
            st.failures.append(f"the simulator skipped {st.sim_skipped} frame tick(s)")
    finally:
        if ronda is not None:
            ronda.close()
        for s in sims:
            s.close()
        logtext = (base / "ronda.log").read_text(errors="replace") if (base / "ronda.log").exists() else ""
        st.log_errors = {k: len(rx.findall(logtext)) for k, rx in LOG_SIGNS.items() if rx.search(logtext)}
        # ~0.5 MB/s per camera: only the logs are kept, and a failed step's catalog (to read why)
        failed = bool(st.failures) or sys.exc_info()[0] is not None
        shutil.rmtree(base / "data" / ("recordings" if failed else ""), ignore_errors=True)
    st.cpu_per_camera = st.ronda_cpu / n
    st.rss_mb_per_camera = st.rss_mb / n
    st.pss_mb_per_camera = st.pss_mb / n
    st.passed = not st.failures
    if not st.passed:
        st.broke = diagnose(st, ronda_rc)
    return st


# ------------------------------------------------------------------ the ramp


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--start", type=int, default=100)
    p.add_argument("--step", type=int, default=25)
    p.add_argument("--max", type=int, default=250)
    p.add_argument("--minutes", type=float, default=10, help="measuring window of each step")
    p.add_argument("--warmup", type=float, default=30, help="seconds after every stream's first segment")
    p.add_argument("--cameras-per-sim", type=int, default=50, help="cameras per simulator process (0: one process)")
    p.add_argument("--analytics", action="store_true", help="run analytics as production does (default: off)")
    p.add_argument(
        "--retention-minutes",
        type=float,
        default=5,
        help="retention of every camera (as a box that has run that long deletes while it records)",
    )
    p.add_argument("--dir", type=Path, default=None, help="where the recordings go (default: the temp dir)")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"],
                   help="Ronda's log level in each step's ronda.log (default: warning, as production)")  # fmt: skip
    a = p.parse_args()
    if a.start < 1 or a.step < 1 or a.max < a.start or a.minutes <= 0 or a.cameras_per_sim < 0:
        p.error("need 1 <= --start <= --max, --step >= 1, --minutes > 0, --cameras-per-sim >= 0")
    if a.retention_minutes < 3:
        p.error("--retention-minutes below 3 would delete segments before they are checked")
    clips = min(a.max, a.cameras_per_sim or a.max)
    log(f"preparing simulator clips for {clips} cameras (cached after the first run; ~2 s each on 2 cores)")
    simmedia.prepare(simmedia.default_cache_dir(), clips)
    rate = bytes_per_camera_second()
    root = Path(tempfile.mkdtemp(prefix="ronda-capacity-", dir=a.dir))
    steps: list[Step] = []
    stopped = ""
    try:
        for n in range(a.start, a.max + 1, a.step):
            need = n * rate * (min(a.minutes, a.retention_minutes) * 60 + a.warmup + 120)
            if need > free_bytes(root) - 10e9:  # the disk is shared: leave 10 GB to the rest of the machine
                stopped = (f"the disk: {n} cameras need ~{need / 1e9:.0f} GB for the step, "
                           f"{free_bytes(root) / 1e9:.0f} GB free in {root} "
                           "(--dir elsewhere, or a shorter --retention-minutes)")  # fmt: skip
                log(f"not starting {n} cameras: {stopped}")
                break
            log(f"step: {n} cameras ({2 * n} streams) for {a.minutes:g} min")
            try:
                st = run_step(n, a, root / f"step{n}")
            except RuntimeError as e:  # Ronda (or a simulator) did not come up: what gave out at this count
                stopped = f"start-up at {n} cameras: {str(e).splitlines()[0]}"
                log(f"  {n} cameras: FAIL: {stopped}")
                break
            steps.append(st)
            log(f"  {n} cameras: {'PASS' if st.passed else 'FAIL: ' + '; '.join(st.failures)}; Ronda "
                f"{st.ronda_cpu:.1f} % of a core ({st.cpu_per_camera:.3f} %/camera, supervisor "
                f"{st.supervisor_cpu:.1f} %), simulators {st.sim_cpu:.1f} %, machine {st.machine_busy:.0f} % busy, "
                f"RSS {st.rss_mb:.0f} MB (PSS {st.pss_mb:.0f}), loop lag p50 {st.loop_lag_ms_p50:.1f} ms max "
                f"{st.loop_lag_ms_max:.1f} ms, fds {st.fds}/{st.fd_limit}")  # fmt: skip
            if not st.passed:
                stopped = st.broke
                log(f"  what gave out: {st.broke}")
                break
        else:
            stopped = f"nothing: every step up to --max {a.max} passed"
    finally:
        log(f"logs kept in {root}")
    passing = [s for s in steps if s.passed]
    best = passing[-1] if passing else (steps[0] if steps else Step(cameras=0))
    print(
        result("capacity", "cameras (main + sub) recorded with 0 unexplained gaps, simulator on the box", "cameras",
               best.cameras if passing else 0, GOAL, "the goal: 150 cameras on this box (issue 16)",
               cpu_per_camera=round(best.cpu_per_camera, 3), rss_mb_per_camera=round(best.rss_mb_per_camera, 2),
               sim_cpu=round(best.sim_cpu, 1), loop_lag_ms_max=round(best.loop_lag_ms_max, 1),
               loop_lag_ms_p50=round(best.loop_lag_ms_p50, 1), minutes=a.minutes, broke=stopped,
               steps=[{k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(s).items()}
                      for s in steps])
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
