"""Soak: many cameras recorded for a long time under a steady load, then the books are checked.

Ronda (``ronda serve``, SQLite) records ``--cameras`` simulated cameras (main stream, 6 s segments)
for ``--minutes`` while, at the same time:

- ``--viewers`` live viewers watch over the low-latency WebSocket (``/media/{id}/live.ws``), each
  moving to another camera every ``--hold`` seconds (a new socket, a new stream token);
- ``--playback`` users list a camera's recent recordings, open a VOD playlist at a segment and fetch
  its first segments (a 404 for a segment retention deleted in between is counted apart, not as an error);
- events are posted at ``--events-per-second`` through ``POST /api/v1/events``, one per request;
- retention runs: every camera keeps ``--retention-minutes`` (default 40 % of the run), so the first
  minutes are deleted during the run; camera 1 carries an evidence lock over an early stretch.

Every 5 s it samples the process tree of ``ronda serve`` (the Python server and every descendant: the
ffmpeg recorders and any helper process), and every 30 s it prints progress on stderr. Criteria:

- 0 unexplained gaps: no hole in a camera's catalog (segments + recorded gaps) longer than a frame,
  checked during the run over what retention must keep, and at the end over the kept window and the
  locked stretch (which retention must not have touched);
- RSS growth < 5 %, whole tree, from the warm point (20 % of the run, at least 2 minutes in or half-way; median of
  3 samples) to the end (median of the last 3 samples); the Python server's own growth is reported too
  (``rss_main_growth_pct``);
- open file descriptors of the Python server flat: at the end at most ``max(8, 2 %)`` above the warm
  point (the load's own connections come and go, so a few either way are noise, a leak is not);
- no orphan: no ffmpeg writing into the data dir whose parent is outside the tree while it runs, and no
  process of the tree left after Ronda's clean stop;
- catalog = files, after the clean stop: every segment row's file exists with its size, every file under
  ``recordings/`` has a row, no ``.partial`` left.

    python bench/soak.py [--cameras 32] [--minutes 60] [--viewers 4] [--playback 2] [--events-per-second 10]

The last line is the contract's JSON (``bench: soak``); the exit status is 1 when a criterion fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from tests.helpers import (  # noqa: E402
    ADMIN,
    ADMIN_PASSWORD,
    RondaProcess,
    camera_ids,
    catalog,
    ffmpeg_children_of,
    free_port,
    iso,
    uncovered,
    write_config,
)
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from bench._common import result  # noqa: E402
from ronda.devices import simmedia  # noqa: E402
from ronda.devices.simcontrol import SimulatorProcess  # noqa: E402

FRAME_MS = 1000 / 15  # the simulator's frame interval: a hole shorter than a frame is no hole
SEGMENT_S = 6
WARMUP_S = 15  # recorders connect and write their first segment before the checked window opens
SAMPLE_S = 5
# A clean stop loses the media still in flight (simulator → ffmpeg → file: a fragment or so); the next
# start explains that stretch as a ``ronda_stopped`` gap. The final check ends this long before the stop,
# and the shortfall is reported as ``stop_tail_ms``.
STOP_TAIL_MS = 2000
RSS_LIMIT_PCT = 5.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Options:
    cameras: int = 32
    minutes: float = 60
    viewers: int = 4
    playback: int = 2
    events_per_second: float = 10
    retention_minutes: float | None = None  # default: 40 % of the run
    hold_seconds: float = 60  # a live viewer's time on one camera
    progress_seconds: float = 30
    warm_fraction: float = 0.2
    # The server's RSS climbs for its first ~2.5 minutes (measured: 287 → 310 MB with 8 cameras, flat
    # after), so the warm point is never earlier than this, whatever the run's length.
    warm_min_seconds: float = 120

    @property
    def keep_minutes(self) -> float:
        return self.retention_minutes if self.retention_minutes is not None else 0.4 * self.minutes


# --- the process tree -----------------------------------------------------------------------------------
def proc_table() -> dict[int, tuple[int, int, str]]:
    """pid → (ppid, start time in ticks, state) of every process."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        f = raw[raw.rindex(")") + 2 :].split()
        out[int(entry.name)] = (int(f[1]), int(f[19]), f[0])
    return out


def tree(root: int, table: dict[int, tuple[int, int, str]]) -> set[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    seen: set[int] = set()
    todo = [root] if root in table else []
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, []))
    return seen


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


@dataclass
class Sample:
    t: float  # seconds since the load started
    rss_tree_kb: int
    rss_main_kb: int
    fds: int
    procs: int


# --- the load ---------------------------------------------------------------------------------------------
class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.c: Counter[str] = Counter()
        self.errors: list[str] = []

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.c[key] += n

    def error(self, key: str, what: str) -> None:
        with self._lock:
            self.c[key] += 1
            if len(self.errors) < 50:
                self.errors.append(f"{key}: {what}"[:300])


def load_errors(st: Stats) -> int:
    return sum(st.c[k] for k in ("viewer_errors", "viewer_stalls", "playback_errors", "event_errors"))


class Login:
    """One administrator session shared by the load's threads; renewed when the server says 401."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._lock = threading.Lock()
        self.token = ""

    def renew(self, stale: str) -> str:
        with self._lock:
            if self.token == stale:
                r = httpx.post(self.base + "/api/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD},
                               timeout=30)  # fmt: skip
                r.raise_for_status()
                self.token = str(r.json()["access_token"])
            return self.token


class Api:
    """An HTTP client of one user of the load (its own keep-alive connection)."""

    def __init__(self, login: Login) -> None:
        self.login = login
        self.http = httpx.Client(base_url=login.base, timeout=30)

    def req(self, method: str, path: str, **kw: Any) -> httpx.Response:
        token = self.login.token or self.login.renew("")
        for _ in range(2):
            r = self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)
            if r.status_code != 401:
                break
            token = self.login.renew(token)
        return r

    def close(self) -> None:
        self.http.close()


def viewer(n: int, login: Login, port: int, cams: list[int], hold: float, stop: threading.Event, st: Stats) -> None:
    api = Api(login)
    k = n
    try:
        while not stop.is_set():
            cam = cams[k % len(cams)]
            k += 1
            try:
                r = api.req("GET", f"/api/v1/cameras/{cam}/live", params={"view": "single"})
                if r.status_code != 200 or "ws" not in r.json().get("urls", {}):
                    st.error("viewer_errors", f"live info of camera {cam}: {r.status_code} {r.text[:100]}")
                    stop.wait(2)
                    continue
                st.add("viewer_sessions")
                with connect(f"ws://127.0.0.1:{port}{r.json()['urls']['ws']}", open_timeout=15, max_size=None,
                             close_timeout=5) as ws:  # fmt: skip
                    end = time.monotonic() + hold
                    while time.monotonic() < end and not stop.is_set():
                        msg = ws.recv(timeout=10)
                        if isinstance(msg, bytes):
                            st.add("viewer_messages")
                            st.add("viewer_bytes", len(msg))
            except TimeoutError:
                st.error("viewer_stalls", f"camera {cam}: no live fragment for 10 s")
            except (ConnectionClosed, InvalidStatus, OSError, httpx.HTTPError) as e:
                if not stop.is_set():
                    st.error("viewer_errors", f"camera {cam}: {type(e).__name__}: {e}")
                    stop.wait(2)
    finally:
        api.close()


def playback_user(n: int, login: Login, cams: list[int], stop: threading.Event, st: Stats) -> None:
    api = Api(login)
    rng = random.Random(n)
    try:
        while not stop.wait(1):
            cam = rng.choice(cams)
            try:
                t = now_ms()
                r = api.req("GET", f"/api/v1/cameras/{cam}/recordings",
                            params={"start": iso(t - 600_000), "end": iso(t)})  # fmt: skip
                if r.status_code != 200:
                    st.error("playback_errors", f"recordings of camera {cam}: {r.status_code} {r.text[:100]}")
                    continue
                segs = r.json()["segments"]
                if not segs:
                    continue
                seg = rng.choice(segs)
                tok = api.req("POST", f"/api/v1/cameras/{cam}/stream-token", json={"right": "playback"})
                if tok.status_code != 200:
                    st.error("playback_errors", f"stream token of camera {cam}: {tok.status_code}")
                    continue
                vod = tok.json()["urls"]["vod"].format(start=quote(seg["start"]))
                pl = api.http.get(vod)
                if pl.status_code != 200:
                    st.error(
                        "playback_errors", f"VOD of camera {cam} at {seg['start']}: {pl.status_code} {pl.text[:100]}"
                    )
                    continue
                parts = [x for x in pl.text.splitlines() if x and not x.startswith("#")][:2]
                for part in parts:
                    got = api.http.get(urljoin(vod, part))
                    if got.status_code == 200 and got.content:
                        st.add("playback_segments")
                        st.add("playback_bytes", len(got.content))
                    elif got.status_code == 404:
                        st.add("playback_expired")  # deleted by retention since the playlist was made
                    else:
                        st.error("playback_errors", f"segment of camera {cam}: {got.status_code} {got.text[:100]}")
            except httpx.HTTPError as e:
                st.error("playback_errors", f"camera {cam}: {type(e).__name__}: {e}")
    finally:
        api.close()


def event_sender(login: Login, cams: list[int], rate: float, stop: threading.Event, st: Stats) -> None:
    api = Api(login)
    run = f"soak{now_ms()}"
    n = 0
    due = time.monotonic()
    try:
        while not stop.is_set():
            ev = {"type": "soak.tick", "camera": cams[n % len(cams)], "uid": f"{run}-{n}", "payload": {"n": n}}
            n += 1
            try:
                r = api.req("POST", "/api/v1/events", json=ev)
                if r.status_code == 202:
                    st.add("events_accepted")
                else:
                    st.error("event_errors", f"{r.status_code} {r.text[:100]}")
            except httpx.HTTPError as e:
                st.error("event_errors", f"{type(e).__name__}: {e}")
            due += 1 / rate
            late = time.monotonic() - due
            if late > 1:  # the server fell behind: say so, and do not burst to catch up
                st.add("events_late")
                due = time.monotonic()
            elif late < 0:
                stop.wait(-late)
    finally:
        api.close()


# --- the books --------------------------------------------------------------------------------------------
def holes(data: Path, cams: list[int], start: int, end: int, inner_only: bool) -> list[tuple[int, int, int]]:
    """(camera, from, to) of every stretch of [start, end] longer than a frame that neither a segment nor a
    recorded gap covers. ``inner_only``: only holes that end before ``end`` (a hole touching ``end`` may be
    a segment still being written)."""
    out = []
    t = now_ms()
    for cam in cams:
        segs, gaps = catalog(data, cam)
        for a, b in uncovered(segs, gaps, start, end, t):
            if b - a > FRAME_MS and not (inner_only and b >= end):
                out.append((cam, a, b))
    return out


def explained_gaps(data: Path, start: int, end: int) -> Counter[str]:
    con = sqlite3.connect(f"file:{data / 'ronda.db'}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute("SELECT reason FROM gaps WHERE start_ms < ? AND (end_ms IS NULL OR end_ms > ?)",
                           (end, start)).fetchall()  # fmt: skip
    finally:
        con.close()
    return Counter(r[0] for r in rows)


def db_counts(data: Path) -> tuple[int, int, int]:
    """(segment rows, segments deleted by retention, soak events stored)."""
    con = sqlite3.connect(f"file:{data / 'ronda.db'}?mode=ro", uri=True, timeout=30)
    try:
        segments = con.execute("SELECT count(*) FROM segments").fetchone()[0]
        deleted = 0
        for (payload,) in con.execute("SELECT payload FROM events WHERE type = 'retention.deleted'"):
            deleted += int(json.loads(payload).get("segments", 0)) if payload else 0
        events = con.execute("SELECT count(*) FROM events WHERE type = 'soak.tick'").fetchone()[0]
    finally:
        con.close()
    return int(segments), deleted, int(events)


@dataclass
class CatalogCheck:
    rows: int = 0
    files: int = 0
    missing: list[str] = field(default_factory=list)  # a row without its file
    wrong_size: list[str] = field(default_factory=list)
    unindexed: list[str] = field(default_factory=list)  # a file without its row
    partials: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.missing or self.wrong_size or self.unindexed)


def check_catalog(data: Path) -> CatalogCheck:
    """Catalog against the disk, with Ronda stopped (so no segment is being written)."""
    root = data / "recordings"
    con = sqlite3.connect(f"file:{data / 'ronda.db'}?mode=ro", uri=True, timeout=30)
    try:
        rows = {p: b for p, b in con.execute("SELECT path, bytes FROM segments WHERE location = 'local'")}
    finally:
        con.close()
    out = CatalogCheck(rows=len(rows))
    on_disk: dict[str, int] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts[0] == ".partial":
            if path.is_file():
                out.partials.append(str(rel))
            continue
        if rel.parts[0].startswith(".") or not path.is_file():
            continue  # the volume marker, quarantine, archive staging
        on_disk[str(rel)] = path.stat().st_size
    out.files = len(on_disk)
    for rel, size in rows.items():
        if rel not in on_disk:
            out.missing.append(rel)
        elif on_disk[rel] != size:
            out.wrong_size.append(f"{rel}: row {size}, file {on_disk[rel]}")
    out.unindexed = sorted(set(on_disk) - set(rows))
    return out


# --- the run ----------------------------------------------------------------------------------------------
def run(opt: Options, base: Path) -> dict[str, Any]:
    """The whole soak in ``base``; the figures and verdicts as a dict (``passed`` says whether all held)."""
    keep_ms = int(opt.keep_minutes * 60_000)
    run_s = opt.minutes * 60
    log(f"soak: {opt.cameras} cameras for {opt.minutes:g} min, {opt.viewers} live viewers, {opt.playback} playback "
        f"users, {opt.events_per_second:g} events/s, retention {opt.keep_minutes:g} min")  # fmt: skip
    simmedia.prepare(simmedia.default_cache_dir(), opt.cameras)
    data = base / "data"
    port = free_port()
    days = opt.keep_minutes / 1440
    cams_cfg = [{"name": f"Camera {i}", "main": {"url": ""}, "retention_days": days} for i in range(1, opt.cameras + 1)]
    sim = SimulatorProcess(cameras=opt.cameras, log_dir=base)
    ronda: RondaProcess | None = None
    stop = threading.Event()
    threads: list[threading.Thread] = []
    st = Stats()
    samples: list[Sample] = []
    inner_holes: dict[tuple[int, int], tuple[int, int, int]] = {}
    orphans: set[int] = set()
    try:
        sim.start()
        for i, c in enumerate(cams_cfg, 1):
            c["main"] = {"url": sim.url(f"cam{i}")}
        cfg = write_config(data, port, cams_cfg, recording={"segment_seconds": SEGMENT_S, "stall_timeout_seconds": 6},
                           storage={"check_interval_seconds": 5})  # fmt: skip
        ronda = RondaProcess(cfg, base / "ronda.log", port)
        ronda.start(timeout=120)
        root = ronda.pid
        ids = sorted(camera_ids(data).values())
        log(f"ronda serve (pid {root}) up; recording warms up for {WARMUP_S} s")
        time.sleep(WARMUP_S)
        t_rec = now_ms()  # the checked window opens here
        login = Login(ronda.base)
        login.renew("")
        for n in range(opt.viewers):
            threads.append(threading.Thread(target=viewer, args=(n, login, port, ids, opt.hold_seconds, stop, st)))
        for n in range(opt.playback):
            threads.append(threading.Thread(target=playback_user, args=(n, login, ids, stop, st)))
        if opt.events_per_second > 0:
            threads.append(threading.Thread(target=event_sender, args=(login, ids, opt.events_per_second, stop, st)))
        for th in threads:
            th.start()
        t0 = time.monotonic()
        lock_at = max(min(0.15 * run_s, keep_ms / 2000), 3 * SEGMENT_S)
        lock: tuple[int, int] | None = None
        next_progress = opt.progress_seconds
        tree_seen: dict[int, int] = {}  # pid → start time, to tell a leftover from a reused pid
        while (elapsed := time.monotonic() - t0) < run_s:
            if ronda.proc is not None and (died := ronda.proc.poll()) is not None:
                raise RuntimeError(f"ronda serve exited with {died} after {elapsed:.0f} s of the soak (-9: killed from "
                                   f"outside):\n{(base / 'ronda.log').read_text()[-3000:]}")  # fmt: skip
            table = proc_table()
            mine = tree(root, table)
            tree_seen.update({p: table[p][1] for p in mine if p != root})
            for p in ffmpeg_children_of(data):
                if p not in mine:
                    orphans.add(p)
            samples.append(Sample(elapsed, sum(rss_kb(p) for p in mine), rss_kb(root), fd_count(root), len(mine)))
            if lock is None and elapsed >= lock_at:
                lock = (t_rec, now_ms() - 2 * SEGMENT_S * 1000)
                admin = Api(login)
                r = admin.req("POST", "/api/v1/evidence-locks", json={"camera": ids[0], "start": iso(lock[0]),
                              "end": iso(lock[1]), "reason": "soak: retention must keep this"})  # fmt: skip
                admin.close()
                if r.status_code != 201:
                    raise RuntimeError(f"evidence lock refused: {r.status_code} {r.text}")
                log(f"  evidence lock on camera {ids[0]}: {iso(lock[0])} .. {iso(lock[1])}")
            if elapsed >= next_progress:
                next_progress += opt.progress_seconds
                t = now_ms()
                for h in holes(data, ids, max(t_rec, t - keep_ms + 30_000), t - 4 * SEGMENT_S * 1000, True):
                    inner_holes.setdefault((h[0], h[1]), h)
                segments, deleted, _ = db_counts(data)
                s = samples[-1]
                log(f"[{elapsed:5.0f} s] rss {s.rss_tree_kb / 1024:.0f} MB (server {s.rss_main_kb / 1024:.0f} MB, "
                    f"{s.procs} processes), fds {s.fds}, segments {segments} (retention deleted {deleted}), "
                    f"unexplained gaps {len(inner_holes)}, live messages {st.c['viewer_messages']}, playback "
                    f"{st.c['playback_segments']}, events {st.c['events_accepted']}, errors "
                    f"{load_errors(st)}")  # fmt: skip
            time.sleep(min(SAMPLE_S, max(0.0, run_s - elapsed)))
        t_end = now_ms()
        stop.set()
        for th in threads:
            th.join(30)
        rc = ronda.terminate(60)
        ronda = None
        time.sleep(2)
        table = proc_table()
        left = [p for p, start in tree_seen.items() if p in table and table[p][1] == start and table[p][2] != "Z"]
        orphans.update(left)
        orphans.update(ffmpeg_children_of(data))
    finally:
        stop.set()
        for th in threads:
            th.join(30)
        if ronda is not None:
            ronda.close()
        sim.close()
    # the books, Ronda stopped
    final = holes(data, ids, max(t_rec, t_end - keep_ms), t_end - STOP_TAIL_MS, False)
    tail = max((t_end - max((x.end_ms for x in catalog(data, c)[0]), default=t_rec) for c in ids), default=0)
    locked = holes(data, ids[:1], lock[0], lock[1], False) if lock else []
    found = {(c, a): (c, a, b) for c, a, b in final + locked}
    for key, h in inner_holes.items():
        if not any(c == h[0] and a < h[2] and b > h[1] for c, a, b in found.values()):
            found[key] = h
    segments, deleted, events_stored = db_counts(data)
    cat = check_catalog(data)
    warm_t = max(opt.warm_fraction * run_s, min(opt.warm_min_seconds, run_s / 2))  # short runs: half-way
    warm = [s for s in samples if s.t >= warm_t][:3] or samples[-3:]
    end = samples[-3:]
    rss_warm = statistics.median(s.rss_tree_kb for s in warm)
    rss_end = statistics.median(s.rss_tree_kb for s in end)
    main_warm = statistics.median(s.rss_main_kb for s in warm)
    main_end = statistics.median(s.rss_main_kb for s in end)
    fd_start, fd_end = warm[0].fds, samples[-1].fds
    growth = 100 * (rss_end - rss_warm) / rss_warm
    out: dict[str, Any] = {
        "cameras": opt.cameras,
        "minutes": opt.minutes,
        "viewers": opt.viewers,
        "playback_users": opt.playback,
        "events_per_second": opt.events_per_second,
        "retention_minutes": opt.keep_minutes,
        "unexplained_gaps": len(found),
        "gap_list": [f"camera {c}: {iso(a)} .. {iso(b)}" for c, a, b in sorted(found.values())][:20],
        "stop_tail_ms": tail,
        "explained_gaps": dict(explained_gaps(data, t_rec, t_end)),
        "rss_tree_mb_warm": round(rss_warm / 1024, 1),
        "rss_tree_mb_end": round(rss_end / 1024, 1),
        "rss_growth_pct": round(growth, 2),
        "rss_main_growth_pct": round(100 * (main_end - main_warm) / main_warm, 2),
        "fd_start": fd_start,
        "fd_end": fd_end,
        "fd_max": max(s.fds for s in samples if s.t >= warm[0].t),
        "fd_flat": fd_end <= fd_start + max(8, fd_start // 50),
        "orphans": len(orphans),
        "exit_code": rc,
        "catalog_equals_files": cat.equal and not cat.partials,
        "catalog_rows": cat.rows,
        "catalog_files": cat.files,
        "catalog_problems": (cat.missing + cat.wrong_size + cat.unindexed + cat.partials)[:20],
        "segments": segments,
        "retention_deleted": deleted,
        "locked_range_kept": lock is not None and not locked,
        "events_accepted": st.c["events_accepted"],
        "events_stored": events_stored,
        "events_late": st.c["events_late"],
        "viewer_sessions": st.c["viewer_sessions"],
        "viewer_messages": st.c["viewer_messages"],
        "viewer_mb": round(st.c["viewer_bytes"] / 1e6, 1),
        "playback_segments": st.c["playback_segments"],
        "playback_expired": st.c["playback_expired"],
        "load_errors": load_errors(st),
        "error_list": st.errors[:20],
    }
    out["passed"] = (
        out["unexplained_gaps"] == 0
        and growth < RSS_LIMIT_PCT
        and out["fd_flat"]
        and out["orphans"] == 0
        and out["catalog_equals_files"]
        and out["retention_deleted"] > 0
        and out["locked_range_kept"]
        and out["load_errors"] == 0
        and rc == 0
    )
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cameras", type=int, default=32)
    p.add_argument("--minutes", type=float, default=60)
    p.add_argument("--viewers", type=int, default=4)
    p.add_argument("--playback", type=int, default=2)
    p.add_argument("--events-per-second", type=float, default=10)
    p.add_argument("--retention-minutes", type=float, default=None, help="default: 40 %% of the run")
    p.add_argument("--hold", type=float, default=60, help="seconds a live viewer stays on one camera")
    a = p.parse_args()
    if a.cameras < 1 or a.minutes < 1 or a.viewers < 0 or a.playback < 0 or a.events_per_second < 0:
        p.error("--cameras and --minutes must be at least 1; the load figures cannot be negative")
    opt = Options(a.cameras, a.minutes, a.viewers, a.playback, a.events_per_second, a.retention_minutes, a.hold)
    with tempfile.TemporaryDirectory(prefix="ronda-soak-") as tmp:
        out = run(opt, Path(tmp))
    for k in ("gap_list", "catalog_problems", "error_list"):
        for line in out.pop(k):
            log(f"  {k}: {line}")
    log(f"soak {'passed' if out['passed'] else 'FAILED'}")
    print(result("soak", "unexplained_gaps", "gaps", out.pop("unexplained_gaps"), 0, "none (the goal)", **out))
    return 0 if out["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
