"""Frames from the recorder's own fragments: no second camera connection (docs/analytics.md, Pipeline).

A :class:`FrameSource` follows one recorded stream's partial segment files (``recording/tail.py``, as
live view does), hands each fragment (``moof`` + ``mdat``, with the file's ``ftyp`` + ``moov``) to
PyAV's MP4 demuxer and keeps one decoder per stream set-up, and returns the decoded pictures at the
camera's analysis rate. It runs inside an analytics worker process (worker.py), never in the API's.

Bad input is skipped and counted by reason (``FrameSource.reasons``), never raised:

* ``corrupt_init``: a file's ``moov`` PyAV cannot read (its fragments are skipped: ``no_init``);
* ``corrupt_fragment``: a fragment the demuxer or decoder refuses (the decoder recovers at the next
  keyframe);
* ``corrupt_file``: bytes in a partial file that are not MP4 boxes (the rest of the file is skipped).

A new stream set-up (another resolution or codec: the camera was reconfigured, or the recording
switched streams) arrives as a new ``moov`` and opens a new decoder (``decoder_changes``). H.264 and
H.265 are the same code: the demuxer reads the codec from the ``moov``.

What to decode: decoding, not analysis, is what analytics costs (a 720p keyframe 7-20 ms, a P-frame
~3 ms). The camera's analysers say what they need next (``FragmentDecoder.need``, see
``FrameNeed`` in motion.py): ``all`` (a motion start is being confirmed, an object is followed) →
every frame; otherwise only a keyframe every ``key_interval_ms`` (default 2 s), and nothing else goes
to the decoder; the other fragments are not even demuxed (their ``moof`` says whether they start with
a keyframe and when). The fragments skipped since the last keyframe are kept, so when the need turns to
``all`` mid-GOP the decoder catches up on them first and the next pictures are exact. The interval
between looks varies (0.5 to 1.5 times ``key_interval_ms``): with a fixed one, a scene that repeats
(a clip looped every 10 s, a traffic light's cycle) would always be looked at in the same few phases,
which may all be quiet.

Times: a fragment's decode times count from the start of its file; a frame's wall-clock time is
estimated like live view's: the newest fragment read was written just now, so a file's timeline is
anchored on arrival (``now - end of the newest frame``) and kept while it stays within
``REANCHOR_MS`` of later arrivals, so frame times are smooth and in order.
"""

from __future__ import annotations

import io
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from ronda.analytics.pipeline import Frame
from ronda.recording import fmp4
from ronda.recording.boxes import BoxError
from ronda.recording.tail import PartialTail, TailBox

log = logging.getLogger(__name__)

REANCHOR_MS = 1500
KEY_INTERVAL_MS = 2000  # a look at a keyframe this often while no analyser needs every frame
MAX_KEPT_FRAGMENTS = 160  # a GOP longer than this (40 s of 250 ms fragments) is not kept for catching up
MAX_FRAGMENT = 16 << 20


@dataclass(slots=True)
class StreamSetup:
    codec: str
    width: int
    height: int
    extradata: bytes | None


def _setup_of(init: bytes) -> StreamSetup:
    with av.open(io.BytesIO(init), format="mp4", mode="r") as c:
        if not c.streams.video:
            raise ValueError("no video track")
        cc = c.streams.video[0].codec_context
        return StreamSetup(cc.name, int(cc.width), int(cc.height), bytes(cc.extradata) if cc.extradata else None)


class FragmentDecoder:
    """Boxes of one stream in order → sampled frames. Not thread-safe: one thread per instance."""

    def __init__(self, camera_id: int, fps: float, need: Callable[[], str] | None = None,
                 key_interval_ms: float = KEY_INTERVAL_MS) -> None:  # fmt: skip
        self.camera_id = camera_id
        self.period_ms = 1000.0 / fps
        self.need: Callable[[], str] = need or (lambda: "all")
        self.key_interval_ms = key_interval_ms
        self.skipped = 0  # fragments not decoded because no analyser needed them
        # fragments since the last keyframe that were not (wholly) decoded, with how many of their
        # frames were: decoded first when every frame is wanted again
        self._kept: list[tuple[bytes, int]] = []
        self._boxes: fmp4.Init | None = None
        self._last_look_ms: float | None = None  # continuous time of the last keyframe decoded while sparse
        self._rng = random.Random(camera_id)
        self._look_after_ms = key_interval_ms
        self.reasons: Counter[str] = Counter()
        self.decoded = 0
        self.decoder_changes = 0
        self.setup: StreamSetup | None = None
        self._codec: Any = None  # av.CodecContext
        self._file = -1
        self._ftyp = b""
        self._init: bytes | None = None
        self._moof: bytes | None = None
        self._anchor: float | None = None  # wall ms of the continuous timeline's 0
        self._offset_ms = 0.0  # where the current file's decode time 0 is on the continuous timeline
        self._file_end_ms = 0.0  # end of the newest frame read of the current file (its own timeline)
        self._next_ms = 0.0  # continuous time of the next picture due
        self._tb_ms = 0.0

    def set_fps(self, fps: float) -> None:
        self.period_ms = 1000.0 / fps

    def push(self, boxes: list[TailBox], now_ms: int) -> list[Frame]:
        """Decode what was read; the pictures due at the analysis rate, dated, oldest first."""
        picked: list[tuple[float, Any]] = []  # (ms on the continuous timeline, picture)
        decoded_any = False
        for b in boxes:
            if b.file != self._file:
                # A new segment file: its decode times start again at 0. Drain the old decoder (its
                # last pictures belong to the old file), then continue the timeline where it ended.
                self._drain(picked)
                if self._file != -1:
                    self._offset_ms += self._file_end_ms
                self._file, self._ftyp, self._init, self._moof = b.file, b"", None, None
                self._file_end_ms = 0.0
            if b.kind == b"ftyp":
                self._ftyp = b.data
            elif b.kind == b"moov":
                self._on_init(self._ftyp + b.data)
            elif b.kind == b"moof":
                self._moof = b.data
            elif b.kind == b"mdat" and self._moof is not None:
                moof, self._moof = self._moof, None
                if self._init is None or self._codec is None or self._boxes is None:
                    self.reasons["no_init"] += 1
                    continue
                decoded_any = self._fragment(moof, b.data, picked) or decoded_any
        if decoded_any:
            candidate = now_ms - (self._offset_ms + self._file_end_ms)
            if self._anchor is None or abs(candidate - self._anchor) > REANCHOR_MS:
                self._anchor = candidate
        if self._anchor is None:
            return []
        anchor = self._anchor
        return [Frame(self.camera_id, int(anchor + t), pic) for t, pic in picked]

    def _on_init(self, init: bytes) -> None:
        try:
            setup = _setup_of(init)
        except (av.FFmpegError, ValueError, EOFError) as e:
            self.reasons["corrupt_init"] += 1
            log.debug("camera %s: unreadable init segment: %s", self.camera_id, e)
            self._init = None
            return
        try:
            self._boxes = fmp4.parse_init(init)
        except BoxError as e:
            self.reasons["corrupt_init"] += 1
            log.debug("camera %s: unreadable init segment: %s", self.camera_id, e)
            self._init = None
            return
        self._init = init
        if self.setup is not None and setup != self.setup:
            self.decoder_changes += 1
            log.info("camera %s: stream changed to %s %dx%d", self.camera_id, setup.codec, setup.width, setup.height)
        # A fresh decoder per file (a file starts at a keyframe): nothing of the old set-up lingers.
        self._kept = []
        codec = av.CodecContext.create(setup.codec, "r")
        if setup.extradata:
            codec.extradata = setup.extradata
        self._codec, self.setup = codec, setup

    def _pick(self, pic: Any, tb_ms: float, picked: list[tuple[float, Any]]) -> None:
        self.decoded += 1
        if pic.pts is None:
            return
        t = self._offset_ms + float(pic.pts) * tb_ms
        if t + 0.5 >= self._next_ms:
            picked.append((t, pic))
            # behind by more than a period (a gap, a new file after an outage): restart the cadence
            base = t if t - self._next_ms > self.period_ms else self._next_ms
            self._next_ms = base + self.period_ms

    def _drain(self, picked: list[tuple[float, Any]]) -> None:
        if self._codec is None:
            return
        try:
            for pic in self._codec.decode(None):
                self._pick(pic, self._tb_ms, picked)
        except (av.FFmpegError, ValueError) as e:
            log.debug("camera %s: drain: %s", self.camera_id, e)
        self._codec = None

    def _fragment(self, moof: bytes, mdat: bytes, picked: list[tuple[float, Any]]) -> bool:
        """One fragment: decoded, looked at (its keyframe only) or kept for later (the module's "What to
        decode"); False when it was refused. Only fragments that are decoded are opened with PyAV (an
        ``av.open`` costs ~10 ms: four a second would cost more than decoding the keyframes)."""
        assert self._boxes is not None
        if len(moof) + len(mdat) > MAX_FRAGMENT:
            self.reasons["oversized_fragment"] += 1
            return False
        try:
            frag = fmp4.parse_moof(moof, self._boxes)
        except BoxError:
            self.reasons["corrupt_fragment"] += 1
            return False
        video = self._boxes.video
        run = frag.tracks.get(video.track_id) if video is not None else None
        t = self._offset_ms + self._file_end_ms
        if run is not None and video is not None and video.timescale:
            t = self._offset_ms + run.decode_time * 1000.0 / video.timescale
            self._file_end_ms = max(self._file_end_ms, (run.decode_time + run.duration) * 1000.0 / video.timescale)
        data = moof + mdat
        if frag.keyframe:
            self._kept = []
        if self.need() == "all":
            kept, self._kept = self._kept, []
            for old, skip in kept:  # catch up on the GOP's fragments that were skipped
                self._demux(old, picked, skip=skip)
            return self._demux(data, picked)
        if frag.keyframe and (self._last_look_ms is None or t - self._last_look_ms >= self._look_after_ms
                              or t < self._last_look_ms):  # fmt: skip
            self._last_look_ms = t
            self._look_after_ms = self.key_interval_ms * self._rng.uniform(0.5, 1.5)
            self._kept = [(data, 1)]  # its other frames, if they are wanted later
            return self._demux(data, picked, only=1)
        self.skipped += 1
        if len(self._kept) < MAX_KEPT_FRAGMENTS:
            self._kept.append((data, 0))
        return True

    def _demux(self, fragment: bytes, picked: list[tuple[float, Any]], skip: int = 0, only: int | None = None) -> bool:
        """Decode one fragment's frames (without its first ``skip``; at most ``only``), appending the
        pictures due; False when it was refused. The samples are cut out of the fragment with the
        ``moof``'s sample table (recording/fmp4.py) and handed to the decoder as packets: no demuxer
        (opening one per fragment cost more than decoding)."""
        assert self._boxes is not None and self._boxes.video is not None
        video = self._boxes.video
        try:
            samples = fmp4.track_samples(fragment, self._boxes, video.track_id)
        except BoxError as e:
            self.reasons["corrupt_fragment"] += 1
            log.debug("camera %s: fragment skipped: %s", self.camera_id, e)
            return False
        self._tb_ms = tb = 1000.0 / video.timescale if video.timescale else 0.0
        n = 0
        for smp in samples:
            if smp.size == 0:
                continue
            n += 1
            if n <= skip:
                continue
            if only is not None and n > skip + only:
                break
            if smp.offset < 0 or smp.offset + smp.size > len(fragment):
                self.reasons["corrupt_fragment"] += 1
                return False
            packet = av.Packet(fragment[smp.offset : smp.offset + smp.size])
            packet.dts = smp.decode_time
            packet.pts = smp.decode_time + smp.composition_offset
            packet.is_keyframe = smp.sync
            try:
                for pic in self._codec.decode(packet):
                    self._pick(pic, tb, picked)
            except (av.FFmpegError, ValueError) as e:
                self.reasons["corrupt_fragment"] += 1
                log.debug("camera %s: fragment skipped: %s", self.camera_id, e)
                return False
        return True


class FrameSource:
    """One recorded stream's new frames: :meth:`read` returns what arrived since the last call."""

    def __init__(self, camera_id: int, partial_dir: Path, fps: float, need: Callable[[], str] | None = None) -> None:
        self.tail = PartialTail(partial_dir, skip_corrupt=True)
        self.decoder = FragmentDecoder(camera_id, fps, need)

    @property
    def reasons(self) -> Counter[str]:
        r = Counter(self.decoder.reasons)
        if self.tail.skipped_files:
            r["corrupt_file"] = self.tail.skipped_files
        return r

    def read(self, now_ms: int) -> list[Frame]:
        return self.decoder.push(self.tail.poll(), now_ms)

    def close(self) -> None:
        self.tail.close()
