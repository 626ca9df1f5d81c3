"""Live view from the recorder's own files: no second camera connection, no transcoding.

The recorder's ffmpeg writes each segment as a fragmented MP4 into ``.partial/<camera>-<stream>/``
and flushes every fragment (a quarter of a second of video) as soon as it is complete. A
:class:`LiveTail` follows those files for one stream while somebody watches it: it keeps the file
open (so a rename to the final name loses nothing), cuts the new bytes into fragments, makes their
decode times continuous across segment files, and keeps the last ~30 s in memory. Two outputs read
from it:

* the low-latency path: every new fragment is pushed to WebSocket subscribers, which append it to a
  Media Source Extensions buffer (latency: about one fragment);
* HLS: fragments are grouped into media segments that start at a keyframe (one GOP each), listed in
  a sliding-window playlist with monotonically increasing media sequence numbers.

However many people watch, the camera sees only the recorder's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ronda.recording import fmp4, layout
from ronda.recording.tail import PartialTail, TailBox
from ronda.timeutil import to_iso

log = logging.getLogger(__name__)

POLL_S = 0.02  # without a fragment signal (no recorder in this process, no inotify)
SIGNALLED_POLL_S = 0.5  # with one: a safety net only (a signal lost, a file renamed meanwhile)
KEEP_S = 30.0
IDLE_STOP_S = 30.0
HLS_WINDOW = 6  # media segments in the live playlist
# Fragments (~250 ms each) queued for one viewer. A viewer that does not take them (a stalled
# network, a client that stopped reading) loses the oldest and resumes at the next keyframe: the
# server never holds more than this for it, however long it lags. Above the route's own skip-ahead
# mark (api/routes/live.py MAX_QUEUE), which handles viewers that read, only slowly.
VIEWER_QUEUE = 64


@dataclass(slots=True)
class LiveFragment:
    seq: int
    data: bytes  # moof + mdat, decode times already continuous
    duration_s: float
    keyframe: bool
    wall_ms: int  # estimated capture time of its first frame
    init_version: int
    t_s: float  # decode time of its first frame on the continuous timeline, in seconds


@dataclass(slots=True)
class HlsSegment:
    seq: int
    fragments: list[LiveFragment]
    discontinuity: bool

    @property
    def duration_s(self) -> float:
        return sum(f.duration_s for f in self.fragments)

    @property
    def init_version(self) -> int:
        return self.fragments[0].init_version

    def data(self) -> bytes:
        return b"".join(f.data for f in self.fragments)


@dataclass
class _File:
    serial: int  # PartialTail's number of the file
    init: fmp4.Init | None = None
    shift: dict[int, int] = field(default_factory=dict)
    moof: bytes | None = None


class ViewerQueue(asyncio.Queue[LiveFragment | fmp4.Init | None]):
    """One viewer's bounded queue of fragments, initialisation sections and the end mark (None)."""

    def __init__(self, maxsize: int = VIEWER_QUEUE) -> None:
        super().__init__(maxsize)
        self.dropped = 0
        self._resync = False  # dropped fragments: wait for a keyframe (the decoder needs one)
        self._waiter: asyncio.Future[None] | None = None

    def wake(self, *_: object) -> None:
        """Ends a :meth:`ready` wait (also a done-callback: the viewer's socket closed, its right ended)."""
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def ready(self) -> None:
        """Returns once something is queued or :meth:`wake` is called. One future per wait, and none
        while items are queued: the sender of a busy viewer takes them without waiting (a task and an
        ``asyncio.wait`` per fragment cost 400 sockets at 1,800 fragments a second most of a core)."""
        if not self.empty():
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def offer(self, item: LiveFragment | fmp4.Init | None) -> None:
        if isinstance(item, LiveFragment) and self._resync:
            if not item.keyframe:
                self.dropped += 1
                return
            self._resync = False
        if self.full():
            while not self.empty():
                self.get_nowait()
                self.dropped += 1
            self._resync = True
            if isinstance(item, LiveFragment):
                if not item.keyframe:
                    self.dropped += 1
                    return
                self._resync = False
        self.put_nowait(item)
        self.wake()


class FragmentSignals(Protocol):
    """What tells live view that a fragment landed: the recorder (``Recorder.watch_fragments``)."""

    def watch_fragments(self, camera_id: int, stream: str, wake: Callable[[], None]) -> Callable[[], None] | None: ...


class LiveTail:
    """Follows one stream's partial segment files while it is watched."""

    def __init__(self, partial_dir: Path, key: str, history: Callable[[], list[Path]] | None = None) -> None:
        self.partial_dir = partial_dir
        self.wake = asyncio.Event()  # set by the recorder when ffmpeg wrote to the stream's file
        self.signalled = False  # a signal source is attached: poll only as a safety net
        self.key = key
        self._history = history  # the last completed segment files: a new viewer starts with some past
        self.inits: dict[int, fmp4.Init] = {}
        self.init_version = 0
        self.fragments: deque[LiveFragment] = deque()
        self.segments: deque[HlsSegment] = deque()
        self._open: list[LiveFragment] = []  # the GOP being collected into the next HLS segment
        self._seq = 0
        self._hls_seq = 0
        self.discontinuity_seq = 0  # discontinuities that have left the HLS window
        self.target_s = 1  # EXT-X-TARGETDURATION: may grow with the camera's GOP, never shrinks
        self._tail = PartialTail(partial_dir)
        self._file: _File | None = None
        self._ends: dict[int, int] = {}  # per track: end of the last fragment on the output timeline
        self._subscribers: set[ViewerQueue] = set()
        self.changed = asyncio.Event()
        self.last_used = time.monotonic()
        self.task: asyncio.Task[None] | None = None
        self.error: str | None = None

    # --- reading the files (recording/tail.py cuts them into boxes) -----------------------------
    def poll(self) -> bool:
        """Read what was written since the last call; True when there was something new."""
        return self._take(self._tail.poll())

    def _take(self, boxes: list[TailBox], history: bool = False) -> bool:
        new: list[LiveFragment] = []
        for b in boxes:
            f = self._file
            if f is None or f.serial != b.file:  # the first box of a file: its own init and timeline
                f = self._file = _File(b.file)
            if b.kind == b"moov":
                self._on_init(f, b.data)
            elif b.kind == b"ftyp":
                f.moof = b.data  # held until the moov arrives
            elif b.kind == b"moof":
                f.moof = b.data
            elif b.kind == b"mdat" and f.moof is not None and f.init is not None:
                new.append(self._on_fragment(f, f.moof, b.data))
                f.moof = None
        if not new:
            return False
        for lf in new:
            self._publish(lf)
        if not history:
            # the newest fragment was just written: date what is undated back from now on the timeline
            now = time.time()
            end = new[-1].t_s + new[-1].duration_s
            for lf in reversed(self.fragments):
                if lf.wall_ms:
                    break
                lf.wall_ms = int((now - (end - lf.t_s)) * 1000)
        return True

    def _on_init(self, f: _File, moov: bytes) -> None:
        init = fmp4.parse_init((f.moof or b"") + moov)
        f.moof = None
        current = self.inits.get(self.init_version)
        if current is None or current.signature != init.signature:
            self.init_version += 1
            self.inits[self.init_version] = init
            for v in [v for v in self.inits if v < self.init_version - 8]:
                del self.inits[v]
            for q in self._subscribers:
                q.offer(init)
        f.init = self.inits[self.init_version]
        f.shift = {}

    def _on_fragment(self, f: _File, moof: bytes, mdat: bytes) -> LiveFragment:
        assert f.init is not None
        box = bytearray(moof)
        frag = fmp4.parse_moof(box, f.init)
        if not f.shift:  # first fragment of this file: continue where the previous file ended
            f.shift = {tid: self._ends.get(tid, 0) - run.decode_time for tid, run in frag.tracks.items()}
        fmp4.set_decode_times(box, frag, f.shift)
        for tid, run in frag.tracks.items():
            self._ends[tid] = run.decode_time + run.duration
        video = f.init.video or next(iter(f.init.tracks.values()))
        vrun = frag.tracks.get(video.track_id)
        scale = video.timescale or 1
        duration = vrun.duration / scale if vrun else 0.0
        t_s = vrun.decode_time / scale if vrun else 0.0
        self._seq += 1
        return LiveFragment(self._seq, bytes(box) + mdat, duration, frag.keyframe, 0, self.init_version, t_s)

    def _publish(self, lf: LiveFragment) -> None:
        self.fragments.append(lf)
        # Keep KEEP_S of video, measured on the continuous decode timeline: the newest fragment has
        # no wall-clock time yet (it is dated after it is published), so a wall-clock measure never
        # trimmed anything and the history grew with the stream's bitrate for as long as it was watched.
        while len(self.fragments) > 1 and lf.t_s + lf.duration_s - self.fragments[0].t_s > KEEP_S:
            self.fragments.popleft()
        self._to_hls(lf)
        for q in self._subscribers:
            q.offer(lf)

    def _to_hls(self, lf: LiveFragment) -> None:
        if self._open and (lf.keyframe or lf.init_version != self._open[0].init_version):
            self._hls_seq += 1
            disc = bool(self.segments) and self.segments[-1].init_version != self._open[0].init_version
            self.segments.append(HlsSegment(self._hls_seq, self._open, disc))
            self._open = []
            while len(self.segments) > HLS_WINDOW * 2:
                if self.segments.popleft().discontinuity:
                    self.discontinuity_seq += 1
        if self._open or lf.keyframe:  # an HLS segment starts at a keyframe
            self._open.append(lf)

    # --- running ----------------------------------------------------------------------------------
    def read_history(self, paths: list[Path]) -> None:
        for path in paths:
            self._take(self._tail.read_file(path), history=True)

    async def run(self) -> None:
        try:
            if self._history is not None:
                # Completed files first (listed before the partial directory is looked at, so a file
                # finishing meanwhile is never read twice), then the file being written.
                self.read_history(await asyncio.to_thread(self._history))
            while True:
                self.wake.clear()  # before reading: a write landing meanwhile sets it again
                if self.poll():  # a stat and a read of the page cache: cheaper than a thread hop
                    self.changed.set()
                    self.changed = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SIGNALLED_POLL_S if self.signalled else POLL_S):
                        await self.wake.wait()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # reported to viewers; the hub starts a fresh tail on the next request
            self.error = f"{type(e).__name__}: {e}"
            log.error("live %s stopped: %s", self.key, self.error)
        finally:
            self._tail.close()
            for q in self._subscribers:
                q.offer(None)

    def subscribe(self) -> ViewerQueue:
        q = ViewerQueue()
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: ViewerQueue) -> None:
        self._subscribers.discard(q)
        self.last_used = time.monotonic()

    @property
    def watchers(self) -> int:
        return len(self._subscribers)

    def start_point(self) -> list[LiveFragment]:
        """Fragments from the newest keyframe on: where a new low-latency viewer starts decoding."""
        frags = list(self.fragments)
        for i in range(len(frags) - 1, -1, -1):
            if frags[i].keyframe:
                return frags[i:]
        return []

    async def wait_for(self, ready: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0 or (self.task is not None and self.task.done()):
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)
        return True

    # --- HLS --------------------------------------------------------------------------------------
    def playlist(self, init_url: Callable[[int], str], segment_url: Callable[[int], str]) -> str:
        window = list(self.segments)[-HLS_WINDOW:]
        older = list(self.segments)[:-HLS_WINDOW] if len(self.segments) > HLS_WINDOW else []
        disc_seq = self.discontinuity_seq + sum(1 for s in older if s.discontinuity)
        # a live playlist must keep its target duration: the longest GOP seen so far (EXTINF rounded
        # to the nearest integer may not exceed it, RFC 8216 4.3.3.1)
        self.target_s = max(self.target_s, round(max((s.duration_s for s in window), default=1.0)))
        target = self.target_s
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            f"#EXT-X-TARGETDURATION:{target}",
            f"#EXT-X-MEDIA-SEQUENCE:{window[0].seq if window else 0}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{disc_seq}",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        version = None
        for seg in window:
            if seg.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if seg.init_version != version:
                version = seg.init_version
                lines.append(f'#EXT-X-MAP:URI="{init_url(version)}"')
            lines += [
                f"#EXT-X-PROGRAM-DATE-TIME:{to_iso(seg.fragments[0].wall_ms)}",
                f"#EXTINF:{seg.duration_s:.3f},",
                segment_url(seg.seq),
            ]
        return "\n".join(lines) + "\n"

    def hls_segment(self, seq: int) -> HlsSegment | None:
        return next((s for s in self.segments if s.seq == seq), None)


class LiveHub:
    """One :class:`LiveTail` per watched stream, started on first use, stopped when nobody watches."""

    def __init__(
        self,
        recordings_dir: Path,
        history: Callable[[int, str], list[Path]] | None = None,
        signals: FragmentSignals | None = None,
    ) -> None:
        self.recordings_dir = recordings_dir
        self.history = history
        self.signals = signals
        self._unsubscribe: dict[tuple[int, str], Callable[[], None]] = {}
        self.tails: dict[tuple[int, str], LiveTail] = {}
        self._reaper: asyncio.Task[None] | None = None

    def partial_dir(self, camera_id: int, stream: str) -> Path:
        return layout.Layout(self.recordings_dir).partial_dir(camera_id, stream)

    def get(self, camera_id: int, stream: str) -> LiveTail:
        key = (camera_id, stream)
        tail = self.tails.get(key)
        if tail is None or (tail.task is not None and tail.task.done()):
            past = None if self.history is None else lambda h=self.history: h(camera_id, stream)
            tail = LiveTail(self.partial_dir(camera_id, stream), f"{camera_id}/{stream}", past)
            self._drop_signal(key)
            if self.signals is not None:
                unsubscribe = self.signals.watch_fragments(camera_id, stream, tail.wake.set)
                if unsubscribe is not None:
                    self._unsubscribe[key] = unsubscribe
                    tail.signalled = True
            tail.task = asyncio.create_task(tail.run(), name=f"live-{camera_id}-{stream}")
            self.tails[key] = tail
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap(), name="live-reaper")
        tail.last_used = time.monotonic()
        return tail

    async def _reap(self) -> None:
        while self.tails:
            await asyncio.sleep(5)
            now = time.monotonic()
            for key, tail in list(self.tails.items()):
                if not tail.watchers and now - tail.last_used > IDLE_STOP_S:
                    del self.tails[key]
                    self._drop_signal(key)
                    if tail.task is not None:
                        tail.task.cancel()

    def _drop_signal(self, key: tuple[int, str]) -> None:
        unsubscribe = self._unsubscribe.pop(key, None)
        if unsubscribe is not None:
            unsubscribe()

    async def close(self) -> None:
        for key in list(self._unsubscribe):
            self._drop_signal(key)
        for tail in self.tails.values():
            if tail.task is not None:
                tail.task.cancel()
        if self._reaper is not None:
            self._reaper.cancel()
        for tail in self.tails.values():
            if tail.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await tail.task
        self.tails.clear()
