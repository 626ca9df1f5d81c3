"""An analytics worker process: decode and analyse the cameras it is given (docs/analytics.md, Pipeline).

The main process (service.py) starts N of these with multiprocessing's *spawn* context and talks to
each over two pipes:

* commands (main → worker): ``("cameras", [CameraJob, ...])`` sets the whole list of cameras the worker
  runs (a camera whose job changed is restarted, one no longer listed is stopped), ``("stop",)``;
  end-of-file on this pipe (the main process died, even by ``kill -9``) ends the worker at once:
  workers never outlive Ronda;
* results (worker → main): ``("results", camera_id, [MotionSecond | EventOut, ...])`` and, every
  ``STATUS_S``, ``("status", WorkerStatus)``.

Per camera, two threads: the *reader* follows the stream's fragments and decodes them
(frames.py), keeping up with the recorder whatever the analysers do; the *analyser* thread feeds the
sampled frames to the camera's analysers. Between them a queue of at most ``max_queue_frames``: when
the analysers are slower than the frame rate the oldest waiting frame is dropped and counted, and
the camera is *lagging* until no frame was dropped for ``RECOVER_S``. Results go out through a
bounded outbox as well (dropped and counted when the main process does not take them). Nothing in a
worker waits without bound, and a camera's analysers never hold up another camera's reader.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ronda.analytics.builtin import BUILTIN
from ronda.analytics.model import MotionSecond
from ronda.analytics.pipeline import EVENT_PREFIXES, AnalyserFactory, FrameAnalyser, Result, load_plugin
from ronda.analytics.settings import AnalyticsSettings

log = logging.getLogger(__name__)

STATUS_S = 1.0
NICE = 10  # worker processes' scheduling priority, lower than the recorder's and the API's
READ_S = 0.1  # how often a reader looks for new fragments (one fragment is ~250 ms)
LAG_WINDOW_S = 5.0  # a drop within this long: the camera is lagging
RECOVER_S = 10.0  # no drop for this long: it has caught up
FPS_WINDOW = 5  # status reports the analysed frame rate is averaged over
OUTBOX = 2000  # result messages waiting for the main process


@dataclass(slots=True, frozen=True)
class CameraJob:
    """What a worker needs to run one camera (sent over the pipe: plain values only)."""

    camera_id: int
    stream: str  # "sub" | "main": which recorded stream is analysed
    partial_dir: str
    settings_json: str  # AnalyticsSettings as JSON


@dataclass(slots=True)
class CameraStatus:
    """One camera's figures, as the worker sees them (the admin screen shows them)."""

    camera_id: int
    stream: str
    fps: float = 0.0  # frames analysed per second, last STATUS_S
    analysed: int = 0
    decoded: int = 0
    dropped: int = 0  # frames dropped because the analysers were behind
    results_dropped: int = 0  # results the main process did not take in time
    lagging: bool = False
    reasons: dict[str, int] = field(default_factory=dict)  # skipped input by reason
    last_error: str | None = None
    busy_s: float = 0.0  # how long the analyser call under way has been running
    cpu_percent: float = 0.0  # this camera's threads, % of one core
    width: int = 0
    height: int = 0
    codec: str | None = None


@dataclass(slots=True)
class WorkerStatus:
    pid: int
    cpu_percent: float  # the whole worker process, % of one core
    cameras: dict[int, CameraStatus]
    retired_busy_s: float = 0.0  # the longest analyser call still running for a camera since stopped


@dataclass(slots=True, frozen=True)
class WorkerOptions:
    max_queue_frames: int = 8
    plugins: tuple[str, ...] = ()
    log_level: str = "INFO"
    models: tuple[tuple[str, str], ...] = ()  # analytics.models: extra detector models by name
    timezone: str = "UTC"  # the site's: motion schedules are in site time


class _Outbox:
    """Bounded results queue to the main process; a full queue drops (and counts) instead of blocking."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._q: deque[tuple[Any, ...]] = deque()
        self._cv = threading.Condition()
        self.dropped: Counter[int] = Counter()
        self.closed = False

    def put(self, msg: tuple[Any, ...], camera_id: int | None = None, droppable: bool = True) -> bool:
        """``droppable=False`` (status, fatal): a little room is kept for them above the results' limit."""
        with self._cv:
            if len(self._q) >= (OUTBOX if droppable else OUTBOX + 100):
                if camera_id is not None:
                    self.dropped[camera_id] += 1
                return False
            self._q.append(msg)
            self._cv.notify()
            return True

    def run(self) -> None:
        while True:
            with self._cv:
                while not self._q:
                    self._cv.wait()
                msg = self._q.popleft()
            try:
                self.conn.send(msg)
            except (OSError, EOFError):  # the main process is gone
                os._exit(0)
            except Exception as e:  # a result that does not pickle (a plugin's): dropped, the rest go on
                log.warning("result not sent: %s: %s", type(e).__name__, e)
                if msg[0] == "results":
                    self.dropped[msg[1]] += 1


class _Camera:
    def __init__(self, job: CameraJob, factories: list[tuple[str, AnalyserFactory]], opts: WorkerOptions,
                 outbox: _Outbox) -> None:  # fmt: skip
        self.job = job
        self.settings = AnalyticsSettings.model_validate_json(job.settings_json)
        self.factories = factories
        self.outbox = outbox
        self.status = CameraStatus(job.camera_id, job.stream)
        self.queue: deque[Any] = deque(maxlen=max(1, opts.max_queue_frames))
        self.cv = threading.Condition()
        self.stopping = threading.Event()
        self.last_drop = 0.0
        self.busy_since: float | None = None
        self.input_reasons: Counter[str] = Counter()  # the reader's (frames.py)
        self.analysis_reasons: Counter[str] = Counter()  # the analyser thread's
        self.analysers: list[FrameAnalyser] | None = None  # made by the analysis thread; read by the reader
        self.cpu_s = 0.0
        self._history: deque[tuple[float, int]] = deque(maxlen=FPS_WINDOW + 1)  # (time, frames analysed)
        self.threads = [
            threading.Thread(target=self._guard, args=(self._read,), name=f"read-{job.camera_id}", daemon=True),
            threading.Thread(target=self._guard, args=(self._analyse,), name=f"an-{job.camera_id}", daemon=True),
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stopping.set()
        with self.cv:
            self.cv.notify_all()

    def _guard(self, body: Any) -> None:
        # A camera's failure is reported and retried after a pause; it never ends the worker.
        delay = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                body()
                return
            except Exception as e:
                self.status.last_error = f"{type(e).__name__}: {e}"[:300]
                log.exception("camera %s: %s", self.job.camera_id, self.status.last_error)
            delay = 1.0 if time.monotonic() - started > 60 else min(delay * 2, 30.0)
            self.stopping.wait(delay)

    # --- reader: fragments → frames, always keeping up with the recorder ---------------------------
    def _read(self) -> None:
        from ronda.analytics.frames import FrameSource

        src = FrameSource(self.job.camera_id, Path(self.job.partial_dir), self.settings.motion.fps, self._need)
        cpu0 = time.thread_time()
        try:
            while not self.stopping.is_set():
                frames = src.read(int(time.time() * 1000))
                st = self.status
                st.decoded = src.decoder.decoded
                self.input_reasons = src.reasons
                if src.decoder.setup is not None:
                    st.width, st.height, st.codec = (
                        src.decoder.setup.width,
                        src.decoder.setup.height,
                        src.decoder.setup.codec,
                    )
                if frames:
                    with self.cv:
                        for fr in frames:
                            if len(self.queue) == self.queue.maxlen:
                                st.dropped += 1  # the deque drops the oldest waiting frame
                                self.last_drop = time.monotonic()
                            self.queue.append(fr)
                        self.cv.notify()
                cpu1 = time.thread_time()
                self.cpu_s += cpu1 - cpu0
                cpu0 = cpu1
                if not frames:
                    self.stopping.wait(READ_S)
        finally:
            src.close()

    def _need(self) -> str:
        """What the camera's analysers need decoded next (frames.py): every frame if any needs them
        (an analyser that does not say, a plugin for instance, gets every frame), else a sparse look."""
        analysers = self.analysers
        if analysers is None:
            return "all"  # not made yet: decode normally
        for a in analysers:
            if getattr(a, "need", "all") == "all":
                return "all"
        return "sparse"

    # --- analysers: frames → results ---------------------------------------------------------------
    def _analysers(self) -> list[FrameAnalyser]:
        out: list[FrameAnalyser] = []
        for name, factory in self.factories:
            if name in BUILTIN and name not in self.settings.detectors:
                continue
            a = factory(self.job.camera_id, self.settings)
            if a is not None:
                out.append(a)
        missing = [d for d in self.settings.detectors if d not in BUILTIN]
        if missing:  # asked for in the camera's settings, not installed in this Ronda: said, not hidden
            self.status.last_error = f"detector not available: {', '.join(missing)}"
            log.warning("camera %s: %s", self.job.camera_id, self.status.last_error)
        return out

    def _analyse(self) -> None:
        analysers = self.analysers = self._analysers()
        cpu0 = time.thread_time()
        while not self.stopping.is_set():
            with self.cv:
                while not self.queue and not self.stopping.is_set():
                    self.cv.wait(1.0)
                if self.stopping.is_set():
                    return
                frame = self.queue.popleft()
            results: list[Result] = []
            self.busy_since = time.monotonic()
            try:
                for a in analysers:
                    try:
                        results.extend(a.feed(frame))
                    except Exception as e:  # one analyser's bad frame: counted, the others go on
                        self.analysis_reasons["analyser_error"] += 1
                        self.status.last_error = f"{type(a).__name__}: {type(e).__name__}: {e}"[:300]
                        log.warning("camera %s: %s", self.job.camera_id, self.status.last_error)
            finally:
                self.busy_since = None
            self.status.analysed += 1
            good = [r for r in results if _acceptable(r, self.job.camera_id)]
            if len(good) != len(results):
                self.analysis_reasons["bad_result"] += len(results) - len(good)
            if good:
                self.outbox.put(("results", self.job.camera_id, good), self.job.camera_id)
            cpu1 = time.thread_time()
            self.cpu_s += cpu1 - cpu0
            cpu0 = cpu1

    def snapshot(self, period_s: float, now: float) -> CameraStatus:
        st = self.status
        self._history.append((now, st.analysed))
        t0, n0 = self._history[0]
        st.fps = round((st.analysed - n0) / (now - t0), 2) if now > t0 else 0.0
        st.cpu_percent = round(100.0 * self.cpu_s / period_s, 1) if period_s > 0 else 0.0
        self.cpu_s = 0.0
        if st.dropped and now - self.last_drop < LAG_WINDOW_S:
            st.lagging = True
        elif st.lagging and now - self.last_drop >= RECOVER_S:
            st.lagging = False
        st.busy_s = round(now - self.busy_since, 1) if self.busy_since is not None else 0.0
        st.results_dropped = self.outbox.dropped.get(st.camera_id, 0)
        st.reasons = dict(self.input_reasons + self.analysis_reasons)
        return CameraStatus(**{k: getattr(st, k) for k in CameraStatus.__slots__})


def _acceptable(r: object, camera_id: int) -> bool:
    from ronda.analytics.pipeline import EventOut, TrackEnded

    if isinstance(r, MotionSecond | TrackEnded):
        return r.camera_id == camera_id
    return isinstance(r, EventOut) and r.type.startswith(EVENT_PREFIXES) and isinstance(r.payload, dict)


def _factories(opts: WorkerOptions) -> list[tuple[str, AnalyserFactory]]:
    from ronda.analytics import motion_analyser

    out: list[tuple[str, AnalyserFactory]] = list(BUILTIN.items())
    out = [(n, motion_analyser.factory(opts.timezone) if n == "motion" else f) for n, f in out]
    if opts.models:  # the objects analyser with the configured models besides the built-in ones
        from ronda.analytics import objects

        out = [(n, objects.factory(dict(opts.models)) if n == "objects" else f) for n, f in out]
    out += [(spec, load_plugin(spec)) for spec in opts.plugins]
    return out


def _watch_parent(conn: Connection, cameras: dict[int, _Camera], factories: list[tuple[str, AnalyserFactory]],
                  opts: WorkerOptions, outbox: _Outbox, retired: list[_Camera]) -> None:  # fmt: skip
    """The command loop: runs until the main process says stop or its end of the pipe closes."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            os._exit(0)  # the main process is gone: do not outlive it
        if msg[0] == "stop":
            for cam in cameras.values():
                cam.stop()
            os._exit(0)
        if msg[0] == "cameras":
            jobs: dict[int, CameraJob] = {j.camera_id: j for j in msg[1]}
            for cid in list(cameras):
                if jobs.get(cid) != cameras[cid].job:
                    old = cameras.pop(cid)
                    old.stop()
                    # its analyser call may still be running (a thread cannot be killed): still watched
                    retired[:] = [c for c in retired if c.busy_since is not None] + [old]
            for cid, job in jobs.items():
                if cid not in cameras:
                    cam = _Camera(job, factories, opts, outbox)
                    cameras[cid] = cam
                    cam.start()


def main(commands: Connection, results: Connection, opts: WorkerOptions) -> None:
    """The worker process's entry point (multiprocessing spawn target)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the main process decides
    # Analytics is best effort; recording and the API are not: when the cores are busy, the scheduler
    # serves the main process first (a nice-10 process gets about a tenth of a contended core's share).
    with contextlib.suppress(OSError):
        os.nice(NICE)
    logging.basicConfig(
        level=opts.log_level, format="%(asctime)s analytics-worker[%(process)d] %(levelname)s %(message)s"
    )
    outbox = _Outbox(results)
    threading.Thread(target=outbox.run, name="outbox", daemon=True).start()
    try:
        factories = _factories(opts)
    except Exception as e:  # a plugin that cannot load: said once, then the worker ends (restarted later)
        outbox.put(("fatal", f"{type(e).__name__}: {e}"), droppable=False)
        time.sleep(1.0)
        os._exit(3)
    cameras: dict[int, _Camera] = {}
    retired: list[_Camera] = []

    def report() -> None:
        last_wall, last_cpu = time.monotonic(), time.process_time()
        while True:
            time.sleep(STATUS_S)
            now, cpu = time.monotonic(), time.process_time()
            period = now - last_wall
            status = WorkerStatus(
                pid=os.getpid(),
                cpu_percent=round(100.0 * (cpu - last_cpu) / period, 1) if period > 0 else 0.0,
                cameras={cid: cam.snapshot(period, now) for cid, cam in list(cameras.items())},
                retired_busy_s=max((now - b for c in list(retired) if (b := c.busy_since) is not None), default=0.0),
            )
            last_wall, last_cpu = now, cpu
            outbox.put(("status", status), droppable=False)

    threading.Thread(target=report, name="status", daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        _watch_parent(commands, cameras, factories, opts, outbox, retired)
