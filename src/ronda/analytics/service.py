"""The analytics role in the main process: which cameras run, on which worker, and what comes back.

``AnalyticsService`` (docs/analytics.md, Pipeline) starts ``analytics.workers`` worker processes
(worker.py; multiprocessing *spawn*), spreads the cameras over them (camera id modulo the number of
workers: a camera stays on its worker while others come and go), and supervises them: a worker that
dies, or stops reporting, or whose analyser call has run longer than ``analytics.hang_seconds``, is
killed by its PID and started again with back-off (1 s doubling to 30 s); its cameras resume there.

Which cameras: every enabled camera with a recorded stream, the sub-stream when the camera records one
(``settings.stream``: auto | sub | main), with the settings ``settings_for(camera_id)`` returns. The
list and the settings are read again every ``analytics.rescan_seconds`` (and at once by
:meth:`AnalyticsService.rescan`, which the settings API calls after a change); a camera whose job
changed is restarted on its worker, the others are not touched.

Results are written by one writer thread, in batches (never on the event loop): events through
``repos.add_events`` (``source="analytics"``; the snapshot as a JPEG file under
``DATA/analytics/snapshots/`` whose path relative to the data directory is the event's ``snapshot``),
motion seconds through the injected ``store_motion(rows)``. ``analytics.lagging`` (warning) is raised
once when a camera starts dropping frames and ``analytics.recovered`` (info) when it has caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import multiprocessing
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from ronda.analytics import repository as analytics_repo
from ronda.analytics import worker as worker_mod
from ronda.analytics.model import MotionSecond, TrackedObject
from ronda.analytics.pipeline import IMAGE_NAME, MAX_IMAGES, EventOut, TrackEnded
from ronda.analytics.plates import reads as plate_reads
from ronda.analytics.settings import AnalyticsSettings
from ronda.analytics.worker import CameraJob, CameraStatus, WorkerOptions, WorkerStatus
from ronda.config import AnalyticsConfig
from ronda.events.ingest import PayloadError, check_payload
from ronda.recording.layout import Layout
from ronda.store import repos
from ronda.store.db import Database
from ronda.timeutil import now_ms

log = logging.getLogger(__name__)

TICK_S = 0.5
HOUSEKEEPING_S = 3600.0
BACKOFF_MAX_S = 30.0
STABLE_S = 60.0  # a worker up this long starts its next back-off from 1 s again
WRITE_QUEUE = 5000  # result batches waiting for the writer thread
WRITE_BATCH = 200
SNAPSHOT_DIR = Path("analytics") / "snapshots"


@dataclass(slots=True)
class CameraAnalyticsStatus:
    """What the admin screen shows for one camera."""

    camera_id: int
    state: str  # running | starting | restarting | no_stream
    stream: str | None
    worker: int | None  # worker index
    pid: int | None
    fps: float = 0.0
    dropped: int = 0
    results_dropped: int = 0
    lagging: bool = False
    reasons: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    cpu_percent: float = 0.0  # this camera's decode + analysis, % of one core
    worker_cpu_percent: float = 0.0
    restarts: int = 0  # restarts of its worker
    width: int = 0
    height: int = 0
    codec: str | None = None


@dataclass
class _Worker:
    index: int
    proc: BaseProcess | None = None
    commands: Connection | None = None
    results: Connection | None = None
    started_at: float = 0.0
    last_status_at: float = 0.0
    status: WorkerStatus | None = None
    jobs: list[CameraJob] = field(default_factory=list)
    sent: list[CameraJob] | None = None
    restarts: int = 0
    backoff_s: float = 1.0
    next_start_at: float = 0.0
    last_error: str | None = None


def default_settings(camera_id: int) -> AnalyticsSettings:
    """No stored settings: motion over the whole frame (contract)."""
    return AnalyticsSettings()


class AnalyticsService:
    def __init__(
        self,
        cfg: AnalyticsConfig,
        db: Database,
        recordings_dir: Path,
        data_dir: Path,
        settings_for: Callable[[int], AnalyticsSettings] = default_settings,
        store_motion: Callable[[list[MotionSecond]], None] | None = None,
        on_events: Callable[[], None] | None = None,
        log_level: str = "INFO",
        housekeeping: Callable[[], None] | None = None,
        timezone: str = "UTC",
    ) -> None:
        self.cfg = cfg
        self.db = db
        self.layout = Layout(recordings_dir)
        self.data_dir = data_dir
        self.settings_for = settings_for
        self.store_motion = store_motion
        self.on_events = on_events
        self.housekeeping = housekeeping  # hourly, off the loop (pruning records of unrecorded cameras)
        self._next_housekeeping = 0.0
        self.opts = WorkerOptions(cfg.max_queue_frames, tuple(cfg.plugins), log_level.upper(),
                                  tuple((name, str(path)) for name, path in cfg.models.items()), timezone)  # fmt: skip
        # (camera, track) → its analytics_objects row, from its object.detected event to its end
        self._objects: dict[tuple[int, int], int] = {}
        self.workers = [_Worker(i) for i in range(cfg.workers)]
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._unscheduled: dict[int, str] = {}  # camera → why it does not run (no recorded stream)
        self._lagging: dict[int, bool] = {}
        self._writes: queue.Queue[tuple[str, Any]] = queue.Queue(WRITE_QUEUE)
        self.dropped_writes: Counter[int] = Counter()
        self.motion_discarded = 0
        self._writer: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="analytics")
        self._task: asyncio.Task[None] | None = None
        self._rescan_now = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.running = False

    # --- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        if importlib.util.find_spec("av") is None:
            log.warning("analytics is enabled but PyAV is not installed (pip install 'ronda[analytics]'): off")
            return
        self._loop = asyncio.get_running_loop()
        self.running = True
        self._writer = threading.Thread(target=self._write_loop, name="analytics-writer", daemon=True)
        self._writer.start()
        self._task = asyncio.create_task(self._supervise(), name="analytics-supervisor")

    async def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._run(self._stop_workers)
        with contextlib.suppress(queue.Full):
            await self._run(self._writes.put, ("stop", None), True, 10.0)
        if self._writer is not None:
            await self._run(self._writer.join, 10)
        self._pool.shutdown(wait=False)

    def _stop_workers(self) -> None:
        for w in self.workers:
            if w.commands is not None:
                with contextlib.suppress(OSError, ValueError):
                    w.commands.send(("stop",))
        deadline = time.monotonic() + 2.0
        for w in self.workers:
            if w.proc is not None:
                w.proc.join(max(0.0, deadline - time.monotonic()))
                self._kill(w)

    def _kill(self, w: _Worker) -> None:
        """End a worker by its PID (SIGKILL: a hung analyser cannot refuse) and forget its pipes."""
        if w.proc is not None:
            if w.proc.is_alive():
                w.proc.kill()
            w.proc.join(5)
            with contextlib.suppress(ValueError):
                w.proc.close()
        for conn in (w.commands, w.results):
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.close()
        w.proc = w.commands = w.results = None
        w.status = None
        w.sent = None

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Blocking work (joining, killing, spawning a process, a pipe write, the camera scan) on the
        service's own threads: never in the default executor the recorder's writes use."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def rescan(self) -> None:
        """Read the camera list and settings again now (after a settings change)."""
        self._rescan_now.set()

    # --- supervision -------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        next_scan = 0.0
        while True:
            now = time.monotonic()
            if now >= next_scan or self._rescan_now.is_set():
                self._rescan_now.clear()
                try:
                    jobs = await self._run(self._jobs)
                    for w in self.workers:
                        w.jobs = [j for j in jobs if j.camera_id % len(self.workers) == w.index]
                except Exception as e:  # a busy database: the next scan retries
                    log.warning("analytics camera scan failed: %s", e)
                next_scan = now + self.cfg.rescan_seconds
            for w in self.workers:
                try:
                    await self._check(w, now)
                except Exception:
                    log.exception("analytics worker %d check failed", w.index)
            self._lag_events()
            if self.housekeeping is not None and now >= self._next_housekeeping:
                self._next_housekeeping = now + HOUSEKEEPING_S
                try:
                    await self._run(self.housekeeping)
                except Exception as e:  # a busy database: the next hour retries
                    log.warning("analytics housekeeping failed: %s", e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rescan_now.wait(), TICK_S)

    async def _check(self, w: _Worker, now: float) -> None:
        if w.proc is not None:
            reason = None
            if not w.proc.is_alive():
                reason = f"worker exited with {w.proc.exitcode}"
            elif now - max(w.last_status_at, w.started_at) > self.cfg.hang_seconds:
                reason = f"worker stopped reporting for {self.cfg.hang_seconds:g} s"
            elif w.status is not None:
                hung = [c for c in w.status.cameras.values() if c.busy_s > self.cfg.hang_seconds]
                if hung:
                    reason = f"camera {hung[0].camera_id}: an analyser call ran {hung[0].busy_s:g} s"
                elif w.status.retired_busy_s > self.cfg.hang_seconds:
                    reason = f"an analyser call of a stopped camera ran {w.status.retired_busy_s:.0f} s"
            if reason is not None:
                if w.last_error is None or not w.last_error.startswith("plugin"):
                    w.last_error = reason
                log.warning("analytics worker %d (pid %s): %s; restarting", w.index, w.proc.pid, reason)
                stable = now - w.started_at > STABLE_S
                await self._run(self._kill, w)
                w.restarts += 1
                w.backoff_s = 1.0 if stable else min(w.backoff_s * 2, BACKOFF_MAX_S)
                w.next_start_at = now + w.backoff_s
                return
        if w.proc is None:
            if not w.jobs or now < w.next_start_at:
                return
            await self._run(self._spawn, w)
        if w.commands is not None and w.sent != w.jobs:
            jobs = list(w.jobs)
            try:
                await self._run(w.commands.send, ("cameras", jobs))
                w.sent = jobs
            except (OSError, ValueError) as e:
                log.warning("analytics worker %d: %s", w.index, e)

    def _spawn(self, w: _Worker) -> None:
        cmd_r, cmd_w = self._ctx.Pipe(duplex=False)
        res_r, res_w = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(target=worker_mod.main, args=(cmd_r, res_w, self.opts),
                                 name=f"ronda-analytics-{w.index}", daemon=True)  # fmt: skip
        proc.start()
        # Our copies of the child's ends: closed, so that each side sees end-of-file when the other dies.
        cmd_r.close()
        res_w.close()
        w.proc, w.commands, w.results = proc, cmd_w, res_r
        w.started_at = time.monotonic()
        w.last_status_at = 0.0
        w.status = None
        w.sent = None
        threading.Thread(target=self._receive, args=(w, res_r), name=f"analytics-rx-{w.index}", daemon=True).start()
        log.info("analytics worker %d started (pid %s)", w.index, proc.pid)

    def _receive(self, w: _Worker, conn: Connection) -> None:
        """One thread per worker: status and results off its pipe (blocking reads, off the event loop)."""
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError, ValueError):
                return  # the worker ended (the supervisor notices and restarts it)
            except Exception as e:  # a message that does not unpickle: the worker is not trusted further
                log.warning("analytics worker %d sent something unreadable: %s", w.index, e)
                return
            kind = msg[0]
            if kind == "status":
                with self._lock:
                    if w.results is conn:
                        w.status = msg[1]
                        w.last_status_at = time.monotonic()
            elif kind == "results":
                try:
                    self._writes.put_nowait(("results", (msg[1], msg[2])))
                except queue.Full:
                    self.dropped_writes[msg[1]] += 1
            elif kind == "fatal":
                w.last_error = f"plugin: {msg[1]}"
                log.error("analytics worker %d cannot start: %s", w.index, msg[1])

    def _jobs(self) -> list[CameraJob]:
        """Every enabled camera with a recorded stream, with its settings (runs in a thread)."""
        with self.db.session() as s:
            cams = [(c.id, {st.kind for st in c.streams if st.record}) for c in repos.list_cameras(s) if c.enabled]
        jobs: list[CameraJob] = []
        unscheduled: dict[int, str] = {}
        for cid, recorded in cams:
            try:
                settings = self.settings_for(cid)
            except Exception as e:  # one camera's unreadable settings do not stop the others
                unscheduled[cid] = f"settings: {e}"
                continue
            want = settings.stream
            stream = ("sub" if "sub" in recorded else "main") if want == "auto" else want
            if stream not in recorded:
                unscheduled[cid] = "no_stream"
                continue
            if not settings.detectors and not self.cfg.plugins:
                continue
            part = self.layout.partial_dir(cid, stream)
            jobs.append(CameraJob(cid, stream, str(part), settings.model_dump_json()))
        self._unscheduled = unscheduled
        return jobs

    # --- lagging -----------------------------------------------------------------------------------
    def _lag_events(self) -> None:
        for cid, st in self._camera_statuses().items():
            was = self._lagging.get(cid, False)
            if st.lagging != was:
                self._lagging[cid] = st.lagging
                kind = "analytics.lagging" if st.lagging else "analytics.recovered"
                payload = {"stream": st.stream, "dropped": st.dropped, "max_queue_frames": self.cfg.max_queue_frames}
                self._system_event(kind, cid, "warning" if st.lagging else "info", payload)

    def _system_event(self, type: str, camera_id: int | None, severity: str, payload: dict[str, Any]) -> None:
        row = {"type": type, "time_ms": now_ms(), "camera_id": camera_id, "severity": severity,
               "source": "system", "payload": payload}  # fmt: skip
        try:
            self._writes.put_nowait(("event", row))
        except queue.Full:
            log.warning("analytics writer queue full: %s for camera %s not stored", type, camera_id)

    def _camera_statuses(self) -> dict[int, CameraStatus]:
        out: dict[int, CameraStatus] = {}
        with self._lock:
            for w in self.workers:
                if w.status is not None:
                    out.update(w.status.cameras)
        return out

    def status(self) -> dict[int, CameraAnalyticsStatus]:
        """Per camera: state, rates, drops, lagging, last error, CPU (the admin screen)."""
        out: dict[int, CameraAnalyticsStatus] = {}
        with self._lock:
            for w in self.workers:
                ws = w.status
                for job in w.jobs:
                    cs = ws.cameras.get(job.camera_id) if ws is not None else None
                    state = "running" if cs is not None else ("restarting" if w.restarts and w.proc is None
                                                              else "starting")  # fmt: skip
                    st = CameraAnalyticsStatus(job.camera_id, state, job.stream, w.index,
                                               w.proc.pid if w.proc is not None else None,
                                               restarts=w.restarts, last_error=w.last_error)  # fmt: skip
                    if cs is not None:
                        st.fps, st.dropped, st.lagging = cs.fps, cs.dropped, cs.lagging
                        st.results_dropped = cs.results_dropped + self.dropped_writes.get(job.camera_id, 0)
                        st.reasons = dict(cs.reasons)
                        st.last_error = cs.last_error or w.last_error
                        st.cpu_percent = cs.cpu_percent
                        st.worker_cpu_percent = ws.cpu_percent if ws is not None else 0.0
                        st.width, st.height, st.codec = cs.width, cs.height, cs.codec
                    out[job.camera_id] = st
            for cid, why in self._unscheduled.items():
                out[cid] = CameraAnalyticsStatus(cid, "no_stream", None, None, None, last_error=why)
        return out

    # --- writing -----------------------------------------------------------------------------------
    def _write_loop(self) -> None:
        while True:
            item = self._writes.get()
            batch = [item]
            with contextlib.suppress(queue.Empty):
                while len(batch) < WRITE_BATCH:
                    batch.append(self._writes.get_nowait())
            stop = any(k == "stop" for k, _ in batch)
            try:
                self._write(batch)
            except Exception:
                log.exception("analytics results not stored (%d batches)", len(batch))
            if stop:
                return

    def _write(self, batch: list[tuple[str, Any]]) -> None:
        rows: list[dict[str, Any]] = []
        motion: list[MotionSecond] = []
        ended: list[TrackEnded] = []
        for kind, item in batch:
            if kind == "event":
                rows.append(item)
            elif kind == "results":
                camera_id, results = item
                for r in results:
                    if isinstance(r, MotionSecond):
                        motion.append(r)
                    elif isinstance(r, TrackEnded):
                        ended.append(r)
                    elif isinstance(r, EventOut):
                        row = self._event_row(camera_id, r)
                        if row is not None:
                            rows.append(row)
        if motion:
            if self.store_motion is not None:
                self.store_motion(motion)
            else:
                self.motion_discarded += len(motion)
        if rows or ended:
            links = self._plate_links(rows)
            with self.db.session() as s:
                if links:
                    plate_reads.link_dumping(s, rows, links)
                noted = plate_reads.note(s, rows)  # before storing: an allowlisted read says so itself
                ids = repos.add_events(s, rows)
                self._object_records(s, rows, ids, ended)
                plate_reads.store(s, rows, ids, noted, self._copy_snapshot)
            if rows and self.on_events is not None and self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self.on_events)

    def _plate_links(self, rows: list[dict[str, Any]]) -> dict[int, plate_reads.PlateLink]:
        """For the cameras of the batch's dumping events: where to look for the dumper's plate."""
        out: dict[int, plate_reads.PlateLink] = {}
        for row in rows:
            cid = row.get("camera_id")
            if row["type"] != "dumping.detected" or cid is None or cid in out:
                continue
            try:
                d = self.settings_for(cid).dumping
            except Exception as e:  # settings unreadable now: the event is stored without a plate
                log.warning("camera %s: dumping plate link not read: %s", cid, e)
                continue
            out[cid] = plate_reads.PlateLink((cid, *d.plate_cameras), int(d.plate_window_s * 1000))
        return out

    def _object_records(self, s: Any, rows: list[dict[str, Any]], ids: list[int], ended: list[TrackEnded]) -> None:
        """Object search's rows (``analytics_objects``): one per track, made with its ``object.detected``
        event (its snapshot and id) and completed when the track ends (last time, best score, zones)."""
        for row, event_id in zip(rows, ids, strict=True):
            if row["type"] != "object.detected" or row["camera_id"] is None:
                continue
            p = row["payload"]
            x0, y0, x1, y1 = (float(v) for v in p.get("box", (0, 0, 0, 0)))
            obj = TrackedObject(int(p.get("track", 0)), str(p.get("class", "")), float(p.get("score", 0.0)),
                                (x0, y0, x1, y1), row["time_ms"], row["time_ms"])  # fmt: skip
            self._objects[(row["camera_id"], obj.track)] = analytics_repo.add_object(
                s, row["camera_id"], obj, snapshot=row.get("snapshot"), event_id=event_id)  # fmt: skip
        for e in ended:
            known = self._objects.pop((e.camera_id, e.obj.track), None)
            if known is None or not analytics_repo.update_object(s, known, e.obj):
                analytics_repo.add_object(s, e.camera_id, e.obj)  # (its detected event was refused or lost)

    def _event_row(self, camera_id: int, r: EventOut) -> dict[str, Any] | None:
        payload = dict(r.payload)
        if r.box is not None:
            payload.setdefault("box", [round(v, 4) for v in r.box])
        try:
            check_payload(payload)
        except PayloadError as e:
            log.warning("camera %s: %s event refused: %s", camera_id, r.type, e)
            return None
        images = {k: v for k, v in r.images.items() if IMAGE_NAME.match(k) and v}
        if len(images) > MAX_IMAGES or len(images) != len(r.images):
            log.warning("camera %s: %s event: images %s refused (names a-z0-9_, at most %d)", camera_id, r.type,
                        sorted(r.images)[:8], MAX_IMAGES)  # fmt: skip
            images = {}
        snapshot = self._save_snapshot(camera_id, r, images) if r.snapshot or images else None
        if images:
            payload["images"] = sorted(images) if snapshot is not None else []
        box = None
        if r.box is not None:
            x0, y0, x1, y1 = r.box
            box = [round(x0, 4), round(y0, 4), round(x1 - x0, 4), round(y1 - y0, 4)]  # the column is x, y, w, h
        return {"type": r.type[:64], "time_ms": r.time_ms, "camera_id": camera_id, "severity": r.severity,
                "source": "analytics", "payload": payload, "snapshot": snapshot, "box": box}  # fmt: skip

    def _copy_snapshot(self, camera_id: int, time_ms: int, type: str, rel: str) -> str | None:
        """Another event's copy of a stored snapshot (a hotlist hit keeps its plate crop when the read goes)."""
        try:
            data = (self.data_dir / rel).read_bytes()
        except OSError as e:
            log.warning("camera %s: snapshot %s not copied: %s", camera_id, rel, e)
            return None
        return self._save_snapshot(camera_id, EventOut(type, time_ms, {}, snapshot=data), {})

    def _save_snapshot(self, camera_id: int, r: EventOut, images: dict[str, bytes]) -> str | None:
        """``DATA/analytics/snapshots/<camera>/<YYYY>/<MM>/<DD>/<time_ms>-<type>.jpg``, and each extra image
        next to it as ``<time_ms>-<type>.<name>.jpg`` (:func:`image_path`); the snapshot's path relative to
        the data directory, or None when it cannot be written (the event is stored without it). An event
        with images but no snapshot of its own shows its last image as the snapshot."""
        t = datetime.fromtimestamp(r.time_ms / 1000, tz=UTC)
        day = SNAPSHOT_DIR / str(camera_id) / f"{t:%Y}" / f"{t:%m}" / f"{t:%d}"
        main = r.snapshot if r.snapshot is not None else images[sorted(images)[-1]]
        try:
            (self.data_dir / day).mkdir(parents=True, exist_ok=True)
            rel = day / f"{r.time_ms}-{r.type}.jpg"
            n = 0
            while (self.data_dir / rel).exists():  # two events of one type in one millisecond
                n += 1
                rel = day / f"{r.time_ms}-{r.type}-{n}.jpg"
            # the images first: once the snapshot exists, the name is taken and its images are complete
            for name, data in images.items():
                _write(self.data_dir / image_path(str(rel), name), data)
            _write(self.data_dir / rel, main)
        except OSError as e:
            log.warning("camera %s: snapshot not written: %s", camera_id, e)
            return None
        return str(rel)


def image_path(snapshot: str, name: str) -> str:
    """Where an event's extra image ``name`` is stored, from its snapshot's path."""
    return f"{snapshot.removesuffix('.jpg')}.{name}.jpg"


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
