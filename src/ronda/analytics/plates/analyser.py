"""The ``plates`` analyser: licence plates read on vehicle tracks, one ``plate.read`` per vehicle
(docs/analytics.md, Licence plates).

Runs in the worker after the ``objects`` analyser (``builtin.BUILTIN`` keeps the order; asking for
``plates`` switches ``objects`` on). On a frame where the detector ran (``frame.notes["detected"]``),
each live track of a vehicle class (``frame.notes["objects"]``) is read inside its box, at most
``reads_per_track`` times and no more often than ``read_interval_s`` (a vehicle in view for ten
seconds must not cost ten seconds of OCR). The reads of a track vote character by character (vote.py:
the reads of the winning format, each character weighted by its read's confidence and its own
probability), so that one blurred frame's wrong character is outvoted. One ``plate.read`` per track:
as soon as two reads agree on a plate at ``emit_confidence``, or when the reads are used up, or when the
track ends; never twice.

Payload: ``plate``, ``confidence``, ``box`` (the plate's box, normalised), ``track``, ``format``
(format.py's name, ``"eu"`` for the generic rule), ``vehicle`` (the vehicle's box), ``class`` and
``reads`` (how many reads voted). The snapshot is the plate crop as JPEG (with a margin around it), of
the read that says the voted plate (or, when none says it exactly, of the most confident read).

Frame mode (``plates.frame_mode``): while no vehicle is tracked, the whole picture is read every
``frame_interval_s`` (a close-up entry camera where the detector sees no car, only a bumper); a
plate read there is reported once per ``REPEAT_S`` (``track`` is null).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ronda.analytics.pipeline import AnalyserFactory, EventOut, Frame, Result
from ronda.analytics.plates.vote import vote
from ronda.analytics.settings import AnalyticsSettings, PlateSettings

if TYPE_CHECKING:
    from ronda.analytics.model import TrackedObject
    from ronda.analytics.plates.reader import PlateRead, PlateReader

REPEAT_S = 60.0  # frame mode: the same plate again within this long is the same vehicle
_ALIASES = {"motorcycle": "motorbike"}  # COCO (Ultralytics) spelling → Ronda's (Darknet's)
CROP_MARGIN = 0.25  # of the plate's width, around the plate in the snapshot


@dataclass(slots=True)
class _Look:
    """One read of a track, with what its event would need."""

    read: PlateRead
    jpeg: bytes
    vehicle: tuple[float, float, float, float]
    time_ms: int


@dataclass(slots=True)
class _Track:
    cls: str
    reads: int = 0
    last_read_ms: int = -(10**12)
    looks: list[_Look] = field(default_factory=list)
    emitted: bool = False

    def ready(self, emit_confidence: float) -> bool:
        """Two reads say the same plate, one of them at ``emit_confidence``."""
        seen: dict[str, int] = {}
        sure: set[str] = set()
        for lk in self.looks:
            seen[lk.read.plate] = seen.get(lk.read.plate, 0) + 1
            if lk.read.confidence >= emit_confidence:
                sure.add(lk.read.plate)
        return any(n >= 2 and p in sure for p, n in seen.items())


def plate_crop(bgr: Any, read: PlateRead) -> bytes:
    """The plate and a margin around it, as JPEG (native pixels: evidence, not an enhanced picture)."""
    import cv2

    h, w = bgr.shape[:2]
    x0, y0, x1, y1 = read.box
    mx = (x1 - x0) * CROP_MARGIN
    my = (y1 - y0) * CROP_MARGIN * 2
    a0, b0 = max(0, int((x0 - mx) * w)), max(0, int((y0 - my) * h))
    a1, b1 = min(w, int((x1 + mx) * w) + 1), min(h, int((y1 + my) * h) + 1)
    ok, buf = cv2.imencode(".jpg", bgr[b0:b1, a0:a1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    return bytes(buf) if ok else b""


class PlateAnalyser:
    need = "idle"  # it reads on the objects analyser's frames; frame mode is content with a sparse look

    def __init__(self, camera_id: int, settings: PlateSettings, reader: PlateReader) -> None:
        self.camera_id = camera_id
        self.settings = settings
        self.reader = reader
        self.classes = {_ALIASES.get(c, c) for c in settings.classes}
        self.tracks: dict[int, _Track] = {}
        self._next_frame_ms = 0
        self._recent: dict[str, int] = {}  # frame mode: plate → last time reported

    def feed(self, frame: Frame) -> list[Result]:
        out: list[Result] = []
        objects: list[TrackedObject] = list(frame.notes.get("objects") or [])
        live = {o.track for o in objects}
        for track in [t for t in self.tracks if t not in live]:
            ev = self._finish(track, frame.time_ms)
            if ev is not None:
                out.append(ev)
        vehicles = [o for o in objects if _ALIASES.get(o.cls, o.cls) in self.classes]
        if frame.notes.get("detected"):
            for o in vehicles:
                ev = self._read_track(frame, o)
                if ev is not None:
                    out.append(ev)
        if self.settings.frame_mode and not vehicles and frame.time_ms >= self._next_frame_ms:
            self._next_frame_ms = frame.time_ms + int(self.settings.frame_interval_s * 1000)
            out.extend(self._read_frame(frame))
        return out

    def _read_track(self, frame: Frame, o: TrackedObject) -> EventOut | None:
        st = self.tracks.get(o.track)
        if st is None:
            st = self.tracks[o.track] = _Track(o.cls)
        s = self.settings
        if st.emitted or st.reads >= s.reads_per_track or frame.time_ms - st.last_read_ms < s.read_interval_s * 1000:
            return None
        st.reads += 1
        st.last_read_ms = frame.time_ms
        bgr = frame.bgr()
        read = self.reader.read(bgr, o.box)
        if read is not None:  # reads_per_track bounds the crops kept (a few KiB each)
            st.looks.append(_Look(read, plate_crop(bgr, read), o.box, frame.time_ms))
        if not st.looks:
            return None
        if st.ready(s.emit_confidence) or st.reads >= s.reads_per_track:
            return self._emit(o.track, st)
        return None

    def _finish(self, track: int, time_ms: int) -> EventOut | None:
        st = self.tracks.pop(track)
        if st.emitted or not st.looks:
            return None
        return self._emit(track, st)

    def _emit(self, track: int, st: _Track) -> EventOut | None:
        st.emitted = True
        voted = vote([lk.read for lk in st.looks])
        if voted is None:
            return None
        lk = st.looks[voted.best]
        payload = {
            "plate": voted.plate,
            "confidence": voted.confidence,
            "box": [round(v, 4) for v in lk.read.box],
            "track": track,
            "format": voted.format,
            "vehicle": [round(v, 4) for v in lk.vehicle],
            "class": st.cls,
            "reads": voted.reads,
        }
        st.looks.clear()  # the crops are not needed any more
        return EventOut("plate.read", lk.time_ms, payload, lk.read.box, lk.jpeg or None)

    def _read_frame(self, frame: Frame) -> list[Result]:
        bgr = frame.bgr()
        out: list[Result] = []
        for read in self.reader.read_all(bgr):
            last = self._recent.get(read.plate)
            if last is not None and frame.time_ms - last < REPEAT_S * 1000:
                continue
            self._recent[read.plate] = frame.time_ms
            payload = {"plate": read.plate, "confidence": read.confidence, "box": [round(v, 4) for v in read.box],
                       "track": None, "format": read.format}  # fmt: skip
            out.append(EventOut("plate.read", frame.time_ms, payload, read.box, plate_crop(bgr, read) or None))
        cutoff = frame.time_ms - REPEAT_S * 1000
        self._recent = {p: t for p, t in self._recent.items() if t >= cutoff}
        return out


def factory(timeout_s: float = 2.0) -> AnalyserFactory:
    """The ``plates`` analyser factory. The OCR models load on the first camera (once per worker
    process); a missing ``rapidocr`` raises ``ReaderError``, which the worker shows as the camera's
    last error."""

    def make(camera_id: int, settings: AnalyticsSettings) -> PlateAnalyser:
        from ronda.analytics.plates.reader import PlateReader

        p = settings.plates
        return PlateAnalyser(camera_id, p, PlateReader(min_confidence=p.min_confidence, timeout_s=timeout_s))

    return make
