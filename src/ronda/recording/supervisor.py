"""One supervised ffmpeg capture per recorded camera stream: its process, restarts and gaps.

This is the one place that owns a stream's capture. It starts ffmpeg (argument list, protocol
allow-list, dies with us), turns each finished file into a catalog row, watches for stalls, and
keeps the stream's timeline honest: whenever no video is being written there is exactly one open
gap with the reason, closed by the first segment that follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import re
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from ronda.config import RecordingConfig
from ronda.devices.urls import redact
from ronda.recording import ffmpeg, layout, recovery, reindex, transport
from ronda.recording.backlog import CatalogBacklog, Pending
from ronda.recording.clockwatch import monotonic_ms
from ronda.recording.segments import LOCAL, Fenced, Placed, StreamKey, Writer, catalog_file, place_file
from ronda.recording.timeline import Placement, SessionClock
from ronda.recording.volume import volume_present
from ronda.store import repos
from ronda.store.db import Database, unreachable
from ronda.store.models import Gap, Segment
from ronda.timeutil import now_ms

log = logging.getLogger(__name__)

# Reasons that only describe why Ronda itself was not recording; once Ronda runs again and the
# camera fails for a reason of its own, that reason starts a new gap.
RONDA_REASONS = frozenset({"ronda_stopped", "recorder_restart", "failover", "rebalanced"})
# A stream that just ended says little; the next connection attempt tells why (camera off, auth).
PROVISIONAL_REASONS = frozenset({"stream_ended", "stream_error"})
# Reasons found in hindsight that explain the whole outage under way: a stop for such a reason takes
# the open gap over (its earlier reason goes to the detail) and leaves it open for the next capture.
HINDSIGHT_REASONS = frozenset({"camera_restarted"})
# What a camera sends and Ronda cannot record (ffmpeg.py): tried again only every BROKEN_STREAM_RETRY_S,
# or at once when the camera is edited (its capture restarts).
BROKEN_STREAM_REASONS = frozenset({"not_rtsp", "video_invalid", "resolution_too_large"})
BROKEN_STREAM_RETRY_S = 60.0
# The stall watchdog looks at the file being written this often; before the first byte of a
# session it allows CONNECT_GRACE_S more than the stall timeout (connecting and probing); a stalled
# ffmpeg that ignores SIGTERM is killed after STALL_KILL_GRACE_S.
WATCHDOG_S = 1.0
CONNECT_GRACE_S = 6.0
STALL_KILL_GRACE_S = 1.0
_LIST_LINE = re.compile(r"^(?P<name>.+),(?P<start>-?[0-9.]+),(?P<end>-?[0-9.]+)$")


def listed_times(start: str, end: str, segment_seconds: float) -> tuple[float, float] | None:
    """A segment-list line's start and end (seconds), or None when they cannot be true: not numbers,
    not finite, ending before they start, or far longer than any segment (a long GOP makes a segment
    longer than ``segment_seconds``, but not ten times longer, nor over two minutes longer)."""
    try:
        a, b = float(start), float(end)
    except ValueError:
        return None
    if not (math.isfinite(a) and math.isfinite(b)) or b < a:
        return None
    if b - a > max(10 * segment_seconds, 120.0):
        return None
    return a, b


@dataclass(slots=True)
class StreamSpec:
    camera_id: int
    stream: str
    url: str  # with credentials: never logged
    codec: str | None
    audio: bool
    stream_row_id: int | None = None
    transport: str = "auto"  # the camera's setting: auto | tcp | udp | http (recording/transport.py)
    tcp_refused_ms: int | None = None  # auto: when the camera last refused TCP (from the catalog)


@dataclass(slots=True)
class StreamStatus:
    state: str = "starting"  # starting | recording | offline | paused | stopped
    reason: str | None = None
    detail: str | None = None
    segments: int = 0
    last_segment_ms: int | None = None
    sessions: int = 0
    pid: int | None = None
    transport: str | None = None  # of the current (or last) attempt: tcp | udp | http
    history: deque[str] = field(default_factory=lambda: deque(maxlen=20))


class StreamRecorder:
    def __init__(
        self,
        spec: StreamSpec,
        db: Database,
        root: Path,
        cfg: RecordingConfig,
        on_status: Callable[[StreamKey, StreamStatus], None] | None = None,
        initial_reason: str | None = None,
        writer: Writer = LOCAL,
        backlog: CatalogBacklog | None = None,
    ) -> None:
        self._initial_reason = initial_reason
        # Catalog writes that wait for the database (shared by the recorder's streams; backlog.py).
        self._own_backlog = backlog is None
        self.backlog = backlog if backlog is not None else CatalogBacklog(db)
        # This node under its lease's epoch (cluster mode): every catalog write checks it (fencing).
        self.writer = writer
        self.spec = spec
        self.key = StreamKey(spec.camera_id, spec.stream)
        self._k = (spec.camera_id, spec.stream)
        self.db = db
        self.root = root
        self.cfg = cfg
        self.layout = layout.Layout(root)
        self.partial_dir = self.layout.partial_dir(spec.camera_id, spec.stream)
        self.quarantine_dir = self.layout.quarantine_dir
        self.status = StreamStatus()
        self._on_status = on_status
        self._stopping = False
        self._pause_reason: str | None = None
        self._wake = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        self._probing = False
        self._kill_reason: str | None = None
        self._floor: int | None = None
        self._floor_mono: int | None = None  # the monotonic clock at the floor (timeline.py), when known
        self._task: asyncio.Task[None] | None = None
        self._backoff = cfg.backoff_initial_seconds
        # Gaps opened (generation) vs the generation the last indexed segment checked: when equal,
        # no gap can be open and indexing skips the open-gap query.
        self._gap_gen = 1
        self._gap_checked = 0

    # --- public control ---------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"rec-{self.key}")

    async def stop(self, reason: str = "ronda_stopped", detail: str | None = None) -> None:
        """Stop capturing; ffmpeg closes its open segment, which is indexed before we return."""
        self._stopping = True
        self._stop_reason, self._stop_detail = reason, detail
        self._wake.set()
        await self._terminate()
        if self._task is not None:
            if self._probing:
                # A probe of a silent camera runs up to probe_timeout_seconds: end it now (ffprobe is
                # killed) rather than make whoever stops (an API request deleting the camera) wait for it.
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._own_backlog:
            await self.backlog.flush(5.0)
            await self.backlog.close()

    def pause(self, reason: str) -> None:
        """Stop writing (disk full, volume missing) until resume(); the time is one gap."""
        if self._pause_reason == reason:
            return
        self._pause_reason = reason
        self._kill_reason = reason
        self._wake.set()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signal.SIGTERM)

    def resume(self) -> None:
        if self._pause_reason is not None:
            self._pause_reason = None
            self._wake.set()

    @property
    def ffmpeg_pid(self) -> int | None:
        p = self._proc
        return p.pid if p is not None and p.returncode is None else None

    # --- main loop --------------------------------------------------------------------------------
    _stop_reason = "ronda_stopped"
    _stop_detail: str | None = None

    async def _run(self) -> None:
        await asyncio.to_thread(self._load_floor)
        await self._recover_leftovers()
        if self._initial_reason:
            # Explains the time since this stream's last segment (Ronda stopped or crashed).
            await self._gap(self._initial_reason, None)
        try:
            while not self._stopping:
                # A stop, pause or resume from here on wakes this step's sleeps: cleared here and not in
                # _sleep, so that one arriving between a check and the sleep is not slept through.
                self._wake.clear()
                try:
                    await self._step()
                except Exception as e:  # a bug or a broken disk must not end this stream's recording
                    log.exception("%s: capture loop error", self.key)
                    await self._failed("recorder_error", f"{type(e).__name__}: {e}")
                    await self._sleep(self.cfg.backoff_max_seconds)
        finally:
            if self._stopping:
                await self._gap(self._stop_reason, self._stop_detail, replace=True)
                self._set(state="stopped", reason=self._stop_reason)

    async def _step(self) -> None:
        """One attempt: wait while paused, probe if needed, run one capture session, back off."""
        if self._pause_reason is not None:
            await self._gap(self._pause_reason, "recording paused")
            self._set(state="paused", reason=self._pause_reason)
            await self._sleep(3600)
            return
        if not volume_present(self.root):
            # Never write into an unmounted disk's mount point (it is the root disk).
            await self._failed("volume_missing", f"{self.root} has no volume marker")
            await self._sleep(self.cfg.backoff_max_seconds)
            return
        self.partial_dir.mkdir(exist_ok=True, parents=True)
        use = transport.choose(self.spec.transport, self.spec.tcp_refused_ms, now_ms())
        self.status.transport = use
        if self.spec.codec is None:
            self._probing = True  # stop() may cancel it: nothing is written meanwhile
            try:
                result = await ffmpeg.probe(self.cfg.ffprobe, self.spec.url, self.cfg.probe_timeout_seconds, use)
            finally:
                self._probing = False
            if self._stopping:
                return
            if not result.ok:
                if await self._tcp_refused(use, result.reason):
                    return
                await self._failed(result.reason or "camera_unreachable", result.detail)
                if result.reason in BROKEN_STREAM_REASONS:
                    # Cameras do not mend such streams in seconds, and probing one costs: ffprobe decodes
                    # a frame of the size the SPS declares (a "16K" one: ~680 MB for a few seconds).
                    await self._sleep(max(self._backoff, BROKEN_STREAM_RETRY_S))
                    return
                await self._back_off()
                return
            self.spec.codec = result.codec
            if self.spec.stream_row_id is not None:
                await asyncio.to_thread(self._save_probe, result)
        if self._stopping or self._pause_reason is not None:
            return  # stopped or paused while the probe was saved
        recorded, reason, detail = await self._session(use)
        if self._stopping or self._pause_reason is not None:
            return
        if not recorded and await self._tcp_refused(use, reason):
            return
        if not recorded and reason == "not_rtsp" and use != "http":
            # "Invalid data" from ffmpeg: a device answering something else, or one saying nothing
            told = await ffmpeg.not_rtsp(self.spec.url, detail or "")
            reason, detail = told.reason or reason, told.detail
        await self._failed(reason, detail)
        if recorded:
            self._backoff = self.cfg.backoff_initial_seconds
            await self._sleep(0.5)
        else:
            await self._back_off()

    async def _tcp_refused(self, used: str, reason: str | None) -> bool:
        """With transport ``auto``, a camera refusing TCP is no outage: remember it (the catalog row
        too, for the next start) and let the next attempt, at once, use UDP. False otherwise."""
        if not transport.falls_back(self.spec.transport, used, reason):
            return False
        self.spec.tcp_refused_ms = now_ms()
        self.status.history.append(f"{self.spec.tcp_refused_ms} transport_refused (tcp): using udp")
        log.info("%s: the camera refuses RTP over TCP: recording over UDP (TCP again in %.0f s at a reconnect)",
                 self.key, transport.TCP_RETRY_S)  # fmt: skip
        await asyncio.to_thread(self._save_tcp_refused, self.spec.tcp_refused_ms)
        return True

    def _save_tcp_refused(self, when_ms: int | None) -> None:
        """Only a hint for the next start: a busy database must not cost a gap (``recorder_error``)."""
        if self.spec.stream_row_id is None:
            return
        try:
            with self.db.session() as s:
                self.writer.check(s, self.key.camera_id)  # (fenced like the catalog: Fenced is logged below)
                repos.set_tcp_refused(s, self.spec.stream_row_id, when_ms)
        except Exception as e:
            log.warning("%s: could not store the TCP refusal: %s", self.key, e)

    async def _back_off(self) -> None:
        """Capped exponential backoff between failed attempts."""
        await self._sleep(self._backoff)
        self._backoff = min(self._backoff * 2, self.cfg.backoff_max_seconds)

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less when stop(), pause() or resume() is called (see _run)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _set(self, **kw: object) -> None:
        for k, v in kw.items():
            setattr(self.status, k, v)
        if self._on_status is not None:
            self._on_status(self.key, self.status)

    async def _failed(self, reason: str, detail: str | None) -> None:
        self.status.history.append(f"{now_ms()} {reason}")
        await self._gap(reason, detail)
        self._set(state="offline", reason=reason, detail=detail)
        log.warning("%s: not recording (%s)%s", self.key, reason, f": {detail}" if detail else "")

    # --- catalog/gaps -----------------------------------------------------------------------------
    def _load_floor(self) -> None:
        with self.db.session() as s:
            self._floor = repos.last_segment_end(s, self.key.camera_id, self.key.stream)
        self._floor_mono = None

    def _save_probe(self, result: ffmpeg.ProbeResult) -> None:
        assert self.spec.stream_row_id is not None
        try:
            with self.db.session() as s:
                self.writer.check(s, self.key.camera_id)  # a node that lost the lease leaves the row alone
                repos.set_stream_probe(s, self.spec.stream_row_id, result.codec, result.width, result.height)
        except Fenced as e:
            log.info("%s: probe result not stored: %s", self.key, e)

    async def _gap(self, reason: str, detail: str | None, replace: bool = False) -> None:
        self._gap_gen += 1
        write = functools.partial(self._gap_sync, reason, detail, replace, now_ms(), self._floor)
        if not self.backlog.waiting:
            try:
                await asyncio.to_thread(write)
                return
            except Exception as e:
                if not unreachable(e):
                    raise
        # The database is away: the gap is written, with the time it opened, when it answers again.
        self.backlog.put(Pending(f"{self.key}: gap {reason}", write))

    def _gap_sync(self, reason: str, detail: str | None, replace: bool, now: int, floor: int | None) -> None:
        """Make sure exactly one open gap describes why nothing is recorded now (``now``: when it was
        decided; ``floor``: the end of the stream's last segment then)."""
        try:
            with self.db.session() as s:
                self.writer.check(s, self.key.camera_id)
                self._gap_write(s, now, reason, detail, replace, floor)
        except Fenced as e:
            log.info("%s: gap %s not written: %s", self.key, reason, e)

    def _gap_write(self, s: Session, now: int, reason: str, detail: str | None, replace: bool,
                   floor: int | None) -> None:  # fmt: skip
        gap = repos.open_gap(s, self.key.camera_id, self.key.stream)
        if gap is not None:
            if gap.reason == reason:
                gap.detail = detail or gap.detail
                return
            if gap.reason in PROVISIONAL_REASONS and not replace:
                gap.reason, gap.detail = reason, detail
                return
            if reason in HINDSIGHT_REASONS and gap.reason not in RONDA_REASONS:
                before = f"{gap.reason}: {gap.detail}" if gap.detail else gap.reason
                gap.reason, gap.detail = reason, f"{detail}; before: {before}" if detail else f"before: {before}"
                return
            if not (replace or gap.reason in RONDA_REASONS):
                # One outage, one gap: keep the first reason, note the latest.
                gap.detail = f"then {reason}" + (f": {detail}" if detail else "")
                return
            gap.end_ms = max(gap.start_ms, now)
            start = gap.end_ms
        else:
            covered = [t for t in (floor, repos.last_gap_end(s, *self._k)) if t is not None]
            # The anchor can put the last segment's end a few ms past "now": start after it.
            start = max(covered) if covered else now
        s.add(
            Gap(
                camera_id=self.key.camera_id,
                stream=self.key.stream,
                start_ms=start,
                end_ms=None,
                reason=reason,
                detail=detail,
            )
        )

    async def _index(self, partial: Path, place: Placement, recovered: bool) -> None:
        gen = self._gap_gen
        # One worker-thread hop per segment: hash, sync and rename the file, then write its row (unless
        # the catalog is behind: then the row joins the backlog, in order).
        catalog = not self.backlog.waiting
        try:
            placed, seg, err = await asyncio.to_thread(self._place_and_catalog, partial, place, recovered,
                                                       gen != self._gap_checked, catalog)  # fmt: skip
        except Exception as e:
            # Leave the file where it is: the next start recovers it. Never crash the capture loop.
            log.error("%s: could not finish %s: %s", self.key, partial.name, e)
            return
        if placed is None:
            return
        if catalog and err is None:
            if seg is not None:
                await self._indexed(gen, seg.end_ms, place.end_mono_ms, recovered)
            return
        if err is not None and not unreachable(err):
            # Not an outage: the file goes back where the next start recovers it (as after a crash).
            log.error("%s: could not index %s: %s", self.key, placed.rel.name, err)
            try:
                os.rename(self.root / placed.rel, partial)
            except OSError as e:
                log.error("%s: could not move %s back after a catalog error: %s", self.key, placed.rel, e)
            return
        self._queue(placed, place, recovered)
        await self._indexed(gen, place.end_ms, place.end_mono_ms, recovered, queued=True)

    def _place_and_catalog(
        self, partial: Path, place: Placement, recovered: bool, gap_may_be_open: bool, catalog: bool
    ) -> tuple[Placed | None, Segment | None, Exception | None]:
        """Blocking (a worker thread). The file at its final name, then (``catalog``) its row: (placed,
        row or None when fenced, the catalog's error or None). A placing error propagates."""
        placed = place_file(self.root, self.key, partial, place)
        if placed is None or not catalog:
            return placed, None, None
        try:
            seg = catalog_file(self.db, self.root, self.key, placed, place, self.spec.codec, recovered,
                               gap_may_be_open, self.writer)  # fmt: skip
        except Exception as e:
            return placed, None, e
        return placed, seg, None

    def _queue(self, placed: Placed, place: Placement, recovered: bool) -> None:
        """The database is away: the footage is on disk at its final name, its row waits in the backlog
        (``retry``: looked up before it is inserted, so a lost commit answer does not add it twice)."""
        write = functools.partial(catalog_file, self.db, self.root, self.key, placed, place, self.spec.codec,
                                  recovered, True, self.writer, True)  # fmt: skip
        self.backlog.put(Pending(f"{self.key}: {placed.rel.name}", write))

    async def _indexed(
        self, gen: int, end_ms: int, end_mono_ms: int | None, recovered: bool, queued: bool = False
    ) -> None:
        """A segment is recorded (catalogued, or ``queued`` in the backlog): the stream's clock and status."""
        self._gap_checked = gen  # (a queued row checks for an open gap when it is written)
        self._floor = end_ms
        self._floor_mono = end_mono_ms
        self.status.segments += 1
        self.status.last_segment_ms = end_ms
        if self.status.transport == "tcp" and self.spec.tcp_refused_ms is not None and not recovered and not queued:
            # The camera takes TCP again (new firmware, another server): forget the refusal.
            self.spec.tcp_refused_ms = None
            await asyncio.to_thread(self._save_tcp_refused, None)
        if self.status.state != "recording" and not recovered:
            self._set(state="recording", reason=None, detail=None)

    async def _recover(self, partial: Path, clock: SessionClock, end_mono_ms: int | None = None) -> None:
        """Index what a crash left of a segment, or quarantine it. ``end_mono_ms``: the monotonic clock
        when its writer stopped (no earlier than its last write), when known."""
        try:
            usable = await asyncio.to_thread(recovery.truncate_to_complete, partial)
            dur = await ffmpeg.media_duration_ms(self.cfg.ffprobe, partial) if usable else None
            if not usable or dur is None:
                if partial.stat().st_size > 0:
                    dest = await asyncio.to_thread(recovery.quarantine, partial, self.quarantine_dir)
                    log.warning("%s: quarantined unrecoverable partial segment %s", self.key, dest.name)
                else:
                    partial.unlink(missing_ok=True)
                return
            mtime = int(partial.stat().st_mtime * 1000)
            place = clock.place_recovered(dur, min(mtime, now_ms()), end_mono_ms)
            await self._index(partial, place, recovered=True)
            log.info("%s: recovered %d ms from partial segment %s", self.key, dur, partial.name)
        except FileNotFoundError:
            return

    async def _recover_leftovers(self) -> None:
        if self.writer.epoch is not None:
            await self._quarantine_leftovers()
            return
        await self._adopt_orphans()
        if not self.partial_dir.is_dir():
            return
        leftovers = self.layout.partials(*self._k)
        if leftovers:
            clock = SessionClock(self._floor)
            for p in leftovers:
                await self._recover(p, clock)

    async def _quarantine_leftovers(self) -> None:
        """Cluster mode: what an earlier capture on this node left (it was killed) covers time that the
        node which took the camera over has explained with its ``failover`` gap, or recorded itself:
        kept in quarantine, never catalogued under this new lease."""
        if not self.partial_dir.is_dir():
            return
        for p in self.layout.partials(*self._k):
            try:
                dest = await asyncio.to_thread(recovery.quarantine, p, self.quarantine_dir)
                log.warning("%s: partial segment %s of an earlier lease moved to quarantine", self.key, dest.name)
            except FileNotFoundError:
                continue

    async def _adopt_orphans(self) -> None:
        """Index complete files a crash left at their final names without a catalog row."""
        since = self._floor if self._floor is not None else now_ms() - 86_400_000
        try:
            orphans, _ = await asyncio.to_thread(
                reindex.find_orphans, self.db, self.root, self.key.camera_id, self.key.stream, since, 0.0
            )
            now_batch, left = reindex.split_for_start(orphans)
            if left:
                log.warning("%s: %d more segment files are not in the catalog: run 'ronda storage reindex'",
                            self.key, left)  # fmt: skip
                await asyncio.to_thread(self._reindex_needed, left, orphans[0].start_ms)
            if now_batch:
                await reindex.adopt_orphans(self.db, self.root, self.cfg.ffprobe, now_batch, self.spec.codec)
                await asyncio.to_thread(self._load_floor)
        except Exception:  # never keep a stream from recording because of old files
            log.exception("%s: could not look for uncatalogued segment files", self.key)

    def _reindex_needed(self, files: int, oldest_ms: int) -> None:
        with self.db.session() as s:
            repos.add_event(s, "storage.reindex_needed", now_ms(), self.key.camera_id, severity="warning",
                            payload={"stream": self.key.stream, "files": files, "oldest_ms": oldest_ms,
                                     "command": "ronda storage reindex"})  # fmt: skip

    # --- one capture session ----------------------------------------------------------------------
    async def _session(self, use: str) -> tuple[bool, str, str | None]:
        sess = f"{int(time.time() * 1000):013d}"
        pattern = self.layout.partial_pattern(*self._k, sess)
        self._kill_reason = None
        # The URL (with the camera's credentials) reaches ffmpeg through a pipe, not its arguments.
        with ffmpeg.CameraInput(self.spec.url, self.cfg.stall_timeout_seconds + 4, use) as source:
            args = ffmpeg.capture_args(
                self.cfg.ffmpeg,
                source,
                pattern,
                self.cfg.segment_seconds,
                self.spec.codec,
                self.spec.audio,
                fragment_ms=self.cfg.fragment_ms,
            )
            proc = await ffmpeg.spawn(args, pass_fds=source.pass_fds)
        self._proc = proc
        if self._stopping or self._pause_reason is not None:
            # stop() or pause() came while ffmpeg was starting and found no process to signal: without
            # this, a camera deleted as its capture starts is recorded on, and its stop never returns.
            self._kill_reason = self._pause_reason
            await ffmpeg.stop(proc, grace_s=0)
        self.status.sessions += 1
        self._set(pid=proc.pid)
        clock = SessionClock(self._floor, floor_mono_ms=self._floor_mono)
        listed = 0
        grew = False
        errors: deque[str] = deque(maxlen=8)

        async def read_stderr() -> None:
            assert proc.stderr is not None
            async for raw in proc.stderr:
                line = redact(raw.decode(errors="replace").rstrip())
                if line:
                    errors.append(line)
                    log.debug("%s ffmpeg: %s", self.key, line)

        async def watchdog() -> None:
            nonlocal grew
            last_size, last_change = -1, time.monotonic()
            grace = self.cfg.stall_timeout_seconds + CONNECT_GRACE_S  # connecting and probing the first time
            while proc.returncode is None:
                await asyncio.sleep(WATCHDOG_S)
                cur = Path(str(pattern) % listed)
                try:
                    size = cur.stat().st_size
                except FileNotFoundError:
                    size = -1
                now = time.monotonic()
                if size != last_size:
                    if size > 0:
                        grew = True
                        if self.status.state != "recording":
                            self._set(state="recording", reason=None, detail=None)
                    last_size, last_change = size, now
                    grace = self.cfg.stall_timeout_seconds
                elif now - last_change > grace and proc.returncode is None:
                    self._kill_reason = "stream_stalled" if grew or size >= 0 else "camera_unreachable"
                    log.warning("%s: no media for %.0f s, restarting capture", self.key, now - last_change)
                    # Say so at once; recovery of the cut segment may move the gap's start later.
                    await self._gap(self._kill_reason, "no media on an open connection")
                    self._set(state="offline", reason=self._kill_reason, detail=None)
                    # A stalled ffmpeg only notices SIGTERM when its own socket timeout fires.
                    await self._terminate(grace_s=STALL_KILL_GRACE_S)
                    return

        # Finished files are indexed by one task, in order, so that a slow catalog write (SQLite waiting
        # for another process's lock) never holds up reading ffmpeg's list: a line read late would place
        # its segment late (a re-anchor and a hole in the timeline).
        jobs: asyncio.Queue[Callable[[], Awaitable[None]] | None] = asyncio.Queue()

        async def indexer() -> None:
            while (job := await jobs.get()) is not None:
                try:
                    await job()
                except Exception:  # one file's trouble must not leave the next ones unindexed
                    log.exception("%s: indexing failed", self.key)
                finally:
                    jobs.task_done()
            jobs.task_done()

        idx_task = asyncio.create_task(indexer())
        err_task = asyncio.create_task(read_stderr())
        dog_task = asyncio.create_task(watchdog())
        try:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                m = _LIST_LINE.match(raw.decode(errors="replace").strip())
                if not m:
                    continue
                received, received_mono = now_ms(), monotonic_ms()
                partial = self.partial_dir / Path(m.group("name")).name
                if not partial.exists():
                    continue
                listed += 1
                grew = True
                times = listed_times(m.group("start"), m.group("end"), self.cfg.segment_seconds)
                if times is None:
                    # Never let one bad line restart the capture or put a segment years long into
                    # the catalog: time this file from its own content, as after a crash.
                    log.warning("%s: ffmpeg listed %s from %s to %s: timing it from the file instead",
                                self.key, partial.name, m.group("start"), m.group("end"))  # fmt: skip
                    await jobs.join()  # (it moves the session clock: after the segments listed before it)
                    await self._recover(partial, clock, received_mono)
                    continue
                place = clock.place(*times, received, received_mono)
                jobs.put_nowait(functools.partial(self._index, partial, place, False))
            await proc.wait()
        finally:
            dog_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dog_task
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(err_task, 2)
            await ffmpeg.stop(proc, grace_s=0)
            self._proc = None
            jobs.put_nowait(None)
            await idx_task
        # ffmpeg died without closing its last file (kill -9, crash): keep its complete fragments.
        ended_mono = monotonic_ms()
        for p in self.layout.partials(*self._k, sess):
            await self._recover(p, clock, ended_mono)
        text = " | ".join(errors)
        if self._kill_reason:
            return grew, self._kill_reason, text[-300:] or None
        if text:
            reason = ffmpeg.classify_error(text)
        elif proc.returncode is not None and proc.returncode < 0:
            reason = "capture_crashed"  # ffmpeg killed by a signal (OOM killer, kill -9): we restart it
        else:
            reason = "stream_ended" if proc.returncode == 0 else "stream_error"
        if grew and reason == "camera_unreachable" and "timed out" in text.lower():
            reason = "stream_stalled"
        if grew and proc.returncode == 0 and not text:
            reason = "stream_ended"
        return grew, reason, (text[-300:] or f"ffmpeg exited with {proc.returncode}")

    async def _terminate(self, grace_s: float = 5.0) -> None:
        """SIGTERM (ffmpeg closes its segment properly), SIGKILL after ``grace_s``."""
        if self._proc is not None:
            await ffmpeg.stop(self._proc, grace_s)
