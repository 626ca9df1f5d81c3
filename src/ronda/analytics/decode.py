"""Frames for motion: the cheapest correct way from H.264/H.265 packets to small gray pictures.

Decoding, not the motion maths, is what motion costs (docs/analytics.md, "Motion"): a 720p15 H.264
stream costs ~3.2 ms per decoded P-frame and 7-20 ms per keyframe on one core here (≈ 5 % of a core to
decode every frame), while the detector needs ~0.5 ms per analysed frame. P-frames cannot be skipped
(every one is a reference in camera streams: ``skip_frame='NONREF'`` saves nothing; ``skip_loop_filter``,
``flags2=+fast`` and threads saved nothing measurable either), so the only real saving is decoding fewer
frames. The caller says what it needs before each packet (``need``, from
:attr:`MotionDetector.frame_need`): ``"all"`` (a start is being confirmed), ``"keyframes"`` (an event
runs) or ``"idle"``.

``mode="adaptive"`` (the default)
    every frame while the need is ``all``, starting with the frames of the current GOP that were skipped
    (the packets since the last keyframe are kept, so the decoder catches up exactly, on any stream);
    otherwise a keyframe every ``key_interval_ms`` while idle and every ``event_key_interval_ms`` during
    an event (both 2000 by default: every other keyframe on a 1 s GOP). A start is confirmed ~0.4 s
    after the keyframe that showed it; the price of the sparse look is that a movement has to last about
    2 s to be seen, and that an event's end is known to ±2 s.
``mode="keyframes"``
    never more than keyframes (same idle interval): starts need ``start_frames`` keyframes.
``mode="all"``
    every frame decoded, ``fps`` of them delivered: full time resolution, full decode cost.

Pictures are the luma plane (no colour conversion: converting to BGR costs ~4 ms at 720p) resized in
OpenCV to the detector's analysis size (320 wide, aspect kept). 10-bit or unusual pixel formats go
through libswscale to gray first.

Interface (what the analytics worker calls)::

    frames = MotionFrames.from_stream(container.streams.video[0], fps=5, wall0_ms=T)
    for packet in container.demux(stream):
        frames.need = detector.frame_need
        for gray, time_ms in frames.feed(packet):
            result = detector.process(gray, time_ms)
    frames.flush()

or, for a whole container or URL, ``for gray, time_ms in frames_for_motion(src, fps=5, need=...)``.
``time_ms`` is ``wall0_ms`` plus the frame's presentation time since the first frame (``wall0_ms``
defaults to the wall clock at the first frame). Bad input never raises out of :meth:`MotionFrames.feed`:
the packet or frame is skipped, the decoder waits for the next keyframe, and the reason is counted in
:attr:`MotionFrames.errors` (``decode``: the decoder refused a packet; ``corrupt``: it concealed damage in
a frame; ``format``: a picture that could not be converted); :func:`frames_for_motion` also counts ``demux``
(a truncated or corrupt container ends the iteration).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Literal, cast

import av
import av.container
import av.video.stream
import cv2
import numpy as np
import numpy.typing as npt

from ronda.analytics.motion import FrameNeed, analysis_size
from ronda.recording.ffmpeg import MAX_PIXELS

DecodeMode = Literal["adaptive", "all", "keyframes"]
DECODE_MODES: tuple[DecodeMode, ...] = ("adaptive", "all", "keyframes")
DEFAULT_MODE: DecodeMode = "adaptive"
IDLE_KEY_INTERVAL_MS = 2000  # while idle, a keyframe at most this often (see the module doc)
EVENT_KEY_INTERVAL_MS = 2000  # during an event, the same (the detector bridges the seconds between)
MAX_GOP_PACKETS = 600  # packets kept for catching up; a longer GOP is decoded from its next keyframe

# 8-bit formats whose first plane is the luma picture: no conversion needed.
_LUMA8 = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"})

Gray = npt.NDArray[np.uint8]


def luma(frame: av.VideoFrame) -> Gray:
    """The frame's luma at the detector's analysis size (uint8, H×W)."""
    size = analysis_size(frame.width, frame.height)
    if frame.format.name in _LUMA8:
        plane = frame.planes[0]
        full = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)[:, : frame.width]
    else:
        full = cast(Gray, frame.to_ndarray(format="gray"))
    if (full.shape[1], full.shape[0]) == size:
        return np.ascontiguousarray(full)
    return cast(Gray, cv2.resize(full, size, interpolation=cv2.INTER_AREA))


class MotionFrames:
    """Turns one video stream's packets into ``(gray, time_ms)`` at about ``fps`` (see the module doc)."""

    def __init__(
        self,
        codec: str,
        *,
        fps: float = 5.0,
        mode: DecodeMode = DEFAULT_MODE,
        extradata: bytes | None = None,
        time_base: Fraction | None = None,
        wall0_ms: int | None = None,
        rate: float | None = None,
        key_interval_ms: int = IDLE_KEY_INTERVAL_MS,
        event_key_interval_ms: int = EVENT_KEY_INTERVAL_MS,
        deblock: bool = False,
        threads: int = 1,
    ) -> None:
        if mode not in DECODE_MODES:
            raise ValueError(f"unknown decode mode {mode!r} (one of {', '.join(DECODE_MODES)})")
        if not fps > 0:
            raise ValueError("fps must be positive")
        try:
            self._ctx: av.VideoCodecContext = av.CodecContext.create(codec, "r")  # type: ignore[assignment]
        except (av.FFmpegError, ValueError) as e:
            raise ValueError(f"no decoder for codec {codec!r}: {e}") from e
        if extradata:
            self._ctx.extradata = extradata
        # One thread: the least CPU per frame (frame threads add a frame of delay and ~0-30 % overhead
        # here), and the analytics worker runs several cameras side by side anyway.
        self._ctx.thread_count = threads
        # A stream whose SPS declares a giant picture ("16K" from a broken camera) is refused by the
        # decoder (counted in ``errors["decode"]``) instead of costing hundreds of MB a frame.
        opts = {"max_pixels": str(MAX_PIXELS)}
        if not deblock:
            # The in-loop deblocking filter is ~10 % of a keyframe's decode; a 4× downscaled gray picture
            # does not need it (P-frames then drift slightly from the encoder's until the next keyframe:
            # a few gray levels, far below any motion threshold).
            opts["skip_loop_filter"] = "all"
        self._ctx.options = opts
        self.mode: DecodeMode = mode
        self.fps = fps
        self.time_base = time_base
        self.wall0_ms = wall0_ms
        self.need: FrameNeed = "idle"  # set by the caller before each packet (MotionDetector.frame_need)
        self._period_ms = 1000.0 / fps
        self._rate = rate if rate and rate > 0 else 15.0  # for streams without timestamps (raw Annex-B)
        self._gop: list[av.Packet] = []
        self._decoded_upto = 0  # packets of _gop already sent to the decoder
        self._need_key = True
        self._pts0: float | None = None
        self._last_out: float | None = None
        self.counts: Counter[str] = Counter()  # packets, skipped, decoded, delivered
        self.errors: Counter[str] = Counter()  # reason → packets or frames lost to it
        self.last_error: str | None = None
        self._synthetic = False
        self._last_pts: int | None = None
        self.key_interval_ms = key_interval_ms  # idle: decode a keyframe at most this often (0: every one)
        self._last_key_secs: float | None = None
        # during an event (need "keyframes"); 0 = every keyframe. The detector bridges a second between
        # two looks that both saw motion, so the per-second record has no holes either way.
        self.event_key_interval_ms = event_key_interval_ms

    @classmethod
    def from_stream(cls, stream: av.video.stream.VideoStream, **kw: object) -> MotionFrames:
        """A frame source for a demuxed stream (copies its codec name, extradata and time base)."""
        ctx = stream.codec_context
        rate = stream.guessed_rate or stream.average_rate
        return cls(
            ctx.name,
            extradata=ctx.extradata,
            time_base=stream.time_base,
            rate=float(rate) if rate else None,
            **kw,  # type: ignore[arg-type]
        )

    @property
    def active(self) -> bool:
        """Shorthand for ``need == "all"`` (set True: decode every frame now; False: idle)."""
        return self.need == "all"

    @active.setter
    def active(self, value: bool) -> None:
        self.need = "all" if value else "idle"

    @property
    def decoding_all(self) -> bool:
        return self.mode == "all" or (self.mode == "adaptive" and self.need == "all")

    def feed(self, packet: av.Packet) -> list[tuple[Gray, int]]:
        """Frames (possibly none) that this packet completes and that are due at the target fps."""
        self.counts["packets"] += 1
        if packet.size == 0:
            return []
        self._stamp(packet)
        if packet.is_keyframe:
            self._gop = [packet]
            self._decoded_upto = 0
            self._need_key = False
        elif self._need_key:
            self.counts["skipped"] += 1
            return []
        else:
            if len(self._gop) >= MAX_GOP_PACKETS:
                self._gop = []
                self._decoded_upto = 0
                self._need_key = True
                self.counts["skipped"] += 1
                return []
            self._gop.append(packet)
        if packet.is_keyframe and (self.decoding_all or self._key_due(packet)):
            todo = self._gop[:1]
        elif self.decoding_all:
            todo = self._gop[self._decoded_upto :]  # catch up on the GOP's skipped frames first
        else:
            self.counts["skipped"] += 1
            return []
        self._decoded_upto = len(self._gop)
        out: list[tuple[Gray, int]] = []
        for p in todo:
            out.extend(self._decode(p))
        return out

    def _key_due(self, packet: av.Packet) -> bool:
        """Whether this keyframe is due: while idle every ``key_interval_ms``, during an event every
        ``event_key_interval_ms`` (0: every keyframe)."""
        interval = self.key_interval_ms if self.need == "idle" else self.event_key_interval_ms
        if interval <= 0 or packet.pts is None:
            return True
        secs = (
            packet.pts / self._rate if self._synthetic or self.time_base is None else float(packet.pts * self.time_base)
        )
        if self._last_key_secs is not None and 0 <= secs - self._last_key_secs < interval / 1000 - 0.25:
            return False
        self._last_key_secs = secs
        return True

    def _stamp(self, packet: av.Packet) -> None:
        """Give packets without timestamps one (the decoder copies it to the frame).

        Raw Annex-B has none at all: packets are numbered at the stream's nominal rate. An RTSP
        stream's first packet has none, later ones do: the numbering then continues on the real clock.
        """
        k = self.counts["packets"] - 1
        if packet.pts is None and packet.dts is None:
            if self._synthetic or self._last_pts is None or self.time_base is None:
                self._synthetic = True
                packet.pts = packet.dts = k
            else:  # a gap in real timestamps: one frame after the last
                packet.pts = packet.dts = self._last_pts + max(1, round(1 / (self._rate * self.time_base)))
                self._last_pts = packet.pts
            return
        pts = packet.pts if packet.pts is not None else packet.dts
        packet.pts = pts
        if self._synthetic and self.time_base is not None and pts is not None:
            # Real timestamps after numbered packets: re-anchor so that time runs on without a jump.
            self._synthetic = False
            if self._pts0 is not None:
                self._pts0 = float(pts * self.time_base) - (k / self._rate - self._pts0)
        self._last_pts = pts

    def flush(self) -> list[tuple[Gray, int]]:
        """Frames still inside the decoder at the end of the stream."""
        return self._decode(None)

    def _decode(self, packet: av.Packet | None) -> list[tuple[Gray, int]]:
        try:
            frames = self._ctx.decode(packet)
        except (av.FFmpegError, ValueError) as e:
            # A corrupt packet: count it, wait for the next keyframe rather than decode garbage.
            self.errors["decode"] += 1
            self._need_key = True
            self.last_error = str(e)
            return []
        out: list[tuple[Gray, int]] = []
        for frame in frames:
            self.counts["decoded"] += 1
            if frame.is_corrupt:
                # The decoder concealed damage (it rarely raises): a smeared picture would look like
                # motion, and the damage spreads to the GOP's later frames, so wait for a keyframe.
                self.errors["corrupt"] += 1
                self._need_key = True
                continue
            if self._need_key and not frame.key_frame:
                continue
            t = self._time_ms(frame)
            if self._last_out is not None and t - self._last_out < self._period_ms * 0.75 and t >= self._last_out:
                continue
            try:
                gray = luma(frame)
            except (ValueError, av.FFmpegError):
                self.errors["format"] += 1
                continue
            self._last_out = t
            self.counts["delivered"] += 1
            out.append((gray, int(round(t))))
        return out

    def _time_ms(self, frame: av.VideoFrame) -> float:
        tb = self.time_base or frame.time_base
        if frame.pts is None:  # should not happen (packets get numbers); count frames at the nominal rate
            secs = self.counts["decoded"] / self._rate
        elif self._synthetic or not tb:
            secs = frame.pts / self._rate
        else:
            secs = float(frame.pts * tb)
        if self._pts0 is None:
            self._pts0 = secs
            if self.wall0_ms is None:
                self.wall0_ms = int(time.time() * 1000)
        return self.wall0_ms + (secs - self._pts0) * 1000.0  # type: ignore[operator]


def frames_for_motion(
    source: str | Path | av.container.InputContainer,
    *,
    fps: float = 5.0,
    mode: DecodeMode = DEFAULT_MODE,
    need: Callable[[], FrameNeed | bool] | None = None,
    wall0_ms: int | None = None,
    options: dict[str, str] | None = None,
    frames: list[MotionFrames] | None = None,
    key_interval_ms: int = IDLE_KEY_INTERVAL_MS,
    event_key_interval_ms: int = EVENT_KEY_INTERVAL_MS,
) -> Iterator[tuple[Gray, int]]:
    """``(gray, time_ms)`` for motion from a file, URL or open container's first video stream.

    ``need`` is asked before every packet (e.g. ``lambda: detector.frame_need``; True/False mean
    ``"all"``/``"idle"``).
    ``options`` go to the demuxer (e.g. ``{"rtsp_transport": "tcp"}``). Pass ``frames=[]`` to get the
    :class:`MotionFrames` used (for its counts) appended to it. A source that cannot be opened raises
    ``ValueError`` with the reason; a container that breaks mid-way ends the iteration with the reason
    counted in ``errors["demux"]``.
    """
    own = not isinstance(source, av.container.InputContainer)
    if isinstance(source, av.container.InputContainer):
        container = source
    else:
        try:
            container = av.open(str(source), options=options or {}, timeout=10)
        except (av.FFmpegError, OSError) as e:
            raise ValueError(f"cannot open {source}: {e}") from e
    try:
        if not isinstance(container, av.container.InputContainer) or not container.streams.video:
            raise ValueError(f"{source}: no video stream")
        stream = container.streams.video[0]
        mf = MotionFrames.from_stream(
            stream,
            fps=fps,
            mode=mode,
            wall0_ms=wall0_ms,
            key_interval_ms=key_interval_ms,
            event_key_interval_ms=event_key_interval_ms,
        )
        if frames is not None:
            frames.append(mf)
        try:
            for packet in container.demux(stream):
                if need is not None:
                    n = need()
                    mf.need = n if isinstance(n, str) else ("all" if n else "idle")
                yield from mf.feed(packet)
        except (av.FFmpegError, OSError) as e:
            mf.errors["demux"] += 1
            mf.last_error = str(e)
        yield from mf.flush()
    finally:
        if own:
            container.close()
