"""Object tracking with stable ids, and what tracks do in a camera's zones (docs/analytics.md).

:class:`ObjectTracker` takes each detector frame's :class:`~ronda.analytics.model.Detection` list
and its time, follows objects with ByteTrack (Roboflow's ``trackers``; one tracker per class, so a
cyclist's person and bicycle boxes never swap ids) and returns typed :class:`ObjectEvent` values:

- ``detected``: once per new track, when it first counts (its class is wanted and its best score so
  far reaches the threshold; inside an include zone when the camera has any).
- ``entered`` / ``left``: an include zone, by the box's **reference point**, the bottom centre (where
  the object stands). A track that ends while inside leaves at its last sighting.
- ``line_crossed``: a ``line`` zone, with ``direction`` ``in`` or ``out``. Seen on the screen, the
  ``in`` side of a line drawn from its first point to its second is on the left of someone walking
  that way (line (0, .5) → (1, .5): ``in`` is the upper half); crossing to that side is ``in``.
  Precisely, in frame coordinates (x right, y down), with ``cross = (B−A) × (P−A)``, the ``in`` side
  is ``cross < 0``. The reference point must move from one side to the other across the segment
  itself (passing beyond its ends does not count).
- ``loitering``: once per visit of an include zone lasting ``loiter_seconds`` (the zone's, else the
  camera's).

Jitter never counts twice: a side of a line (or being outside a zone) only changes once the reference
point is ``margin`` (default 0.02 of the frame) beyond it, so a box wobbling on the line or on a zone's
edge produces no events. Mask zones drop detections whose reference point is inside them before
tracking. Per-zone ``classes`` and ``min_score`` (else the camera's) decide which tracks a zone counts.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import shapely
from shapely.geometry import Polygon

from ronda.analytics.model import Box, Detection, Point, TrackedObject
from ronda.analytics.settings import ObjectSettings, Zone

EventKind = Literal["detected", "entered", "left", "line_crossed", "loitering"]
Direction = Literal["in", "out"]


@dataclass(slots=True, frozen=True)
class ObjectEvent:
    """Something a tracked object did. ``type`` is the event type stored and sent to rules."""

    kind: EventKind
    track: int
    cls: str
    score: float
    box: Box
    time_ms: int
    zone: str | None = None
    direction: Direction | None = None
    seconds: float | None = None  # loitering: how long it has been inside

    @property
    def type(self) -> str:
        return f"object.{self.kind}"

    def payload(self) -> dict[str, Any]:
        """The event's payload as the contract has it: ``class``, ``score``, ``box`` [x0, y0, x1, y1], ``track``."""
        doc: dict[str, Any] = {"class": self.cls, "score": round(self.score, 3),
                               "box": [round(v, 4) for v in self.box], "track": self.track}  # fmt: skip
        if self.zone is not None:
            doc["zone"] = self.zone
        if self.direction is not None:
            doc["direction"] = self.direction
        if self.seconds is not None:
            doc["seconds"] = round(self.seconds, 1)
        return doc


def reference_point(box: Box) -> Point:
    """Where an object stands: the bottom centre of its box."""
    return ((box[0] + box[2]) / 2, box[3])


@dataclass(slots=True)
class _Line:
    zone: Zone
    a: tuple[float, float]
    b: tuple[float, float]
    length: float

    def signed_distance(self, p: Point) -> float:
        """Negative on the ``in`` side (left of A→B as seen on the screen), in frame units."""
        (ax, ay), (bx, by) = self.a, self.b
        return ((bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax)) / self.length

    def crossed_by(self, p: Point, q: Point, tolerance: float) -> bool:
        """Whether the move p → q crosses the segment (its ends extended by ``tolerance``)."""
        (ax, ay), (bx, by) = self.a, self.b
        dp, dq = self.signed_distance(p), self.signed_distance(q)
        if dp == dq:
            return False
        k = dp / (dp - dq)  # where along p → q the line is met
        x, y = p[0] + k * (q[0] - p[0]), p[1] + k * (q[1] - p[1])
        t = ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / (self.length * self.length)
        slack = tolerance / self.length
        return -slack <= t <= 1 + slack


@dataclass(slots=True)
class _Area:
    zone: Zone
    poly: Polygon
    outer: Polygon  # poly grown by the margin: leaving means leaving this

    def __post_init__(self) -> None:
        shapely.prepare(self.poly)
        shapely.prepare(self.outer)


@dataclass(slots=True)
class _Track:
    obj: TrackedObject
    best: float
    counted: bool = False  # object.detected sent
    sides: dict[str, int] = field(default_factory=dict)  # line name -> -1 (in side) / +1
    anchors: dict[str, Point] = field(default_factory=dict)  # line name -> last point clearly on that side
    entered_ms: dict[str, int] = field(default_factory=dict)  # zone name -> when this visit began
    loitered: set[str] = field(default_factory=set)


class ObjectTracker:
    """Tracks and zone events for one camera. Feed every detector frame, in time order."""

    def __init__(
        self,
        zones: Sequence[Zone] = (),
        objects: ObjectSettings | None = None,
        *,
        margin: float = 0.02,
        lost_seconds: float = 2.0,
        min_hits: int = 2,
        min_similarity: float = -0.4,
    ) -> None:
        self.objects = objects or ObjectSettings()
        self.margin = margin
        self._lost_seconds = lost_seconds
        self._min_hits = min_hits
        self._min_similarity = min_similarity
        self._masks = [Polygon(z.points) for z in zones if z.kind == "mask"]
        for m in self._masks:
            shapely.prepare(m)
        self._areas = [
            _Area(z, Polygon(z.points), Polygon(z.points).buffer(margin)) for z in zones if z.kind == "include"
        ]
        self._lines = []
        for z in zones:
            if z.kind == "line":
                (ax, ay), (bx, by) = z.points
                self._lines.append(_Line(z, (ax, ay), (bx, by), math.hypot(bx - ax, by - ay)))
        wanted = set(self.objects.classes)
        for z in zones:
            if z.kind in ("include", "line") and z.classes:
                wanted |= set(z.classes)
        self.classes: frozenset[str] = frozenset(wanted)
        scores = [self.objects.min_score] + [z.min_score for z in zones if z.min_score is not None]
        self.min_score: float = min(scores)  # the lowest threshold anywhere: the detector runs at this
        # ByteTrack keeps tracks alive through weaker detections: ask the detector for these too.
        self.detect_floor: float = max(0.05, self.min_score / 2)
        self._trackers: dict[str, Any] = {}
        self._ids: dict[tuple[str, int], int] = {}
        self._tracks: dict[int, _Track] = {}
        self._next_id = 1
        self._last_ms: int | None = None

    # -- what the worker reads

    @property
    def tracks(self) -> list[TrackedObject]:
        """The objects tracked now."""
        return [t.obj for t in self._tracks.values()]

    def _tracker(self, cls: str) -> Any:
        tracker = self._trackers.get(cls)
        if tracker is None:
            from trackers import ByteTrackTracker, DIoU

            # DIoU, not IoU: at the detector's 2 fps a walking person's consecutive boxes often do not
            # overlap at all (IoU 0); DIoU still scores them by how far the centres moved against the
            # boxes' size. -0.4 lets an object move about its own height between two frames.
            tracker = ByteTrackTracker(
                lost_track_buffer=max(1, round(self._lost_seconds * 30)),  # in 30 fps frames
                frame_rate=self.objects.fps,
                track_activation_threshold=self.min_score,
                high_conf_det_threshold=self.min_score,
                minimum_consecutive_frames=self._min_hits,
                minimum_iou_threshold=self._min_similarity,
                iou=DIoU(),
            )
            self._trackers[cls] = tracker
        return tracker

    def _masked(self, p: Point) -> bool:
        return any(shapely.contains_xy(m, p[0], p[1]) for m in self._masks)

    def _eligible(self, t: _Track, zone: Zone | None) -> bool:
        classes = (zone.classes if zone is not None and zone.classes else None) or self.objects.classes
        threshold = zone.min_score if zone is not None and zone.min_score is not None else self.objects.min_score
        return t.obj.cls in classes and t.best >= threshold

    # -- the work

    def update(self, detections: Sequence[Detection], time_ms: int) -> list[ObjectEvent]:
        """One detector frame (``detections`` may be empty) at ``time_ms``; times must increase."""
        if self._last_ms is not None and time_ms <= self._last_ms:
            return []  # an out-of-order frame: the trackers' motion model needs increasing times
        self._last_ms = time_ms
        import supervision as sv

        by_class: dict[str, list[Detection]] = {}
        for d in detections:
            if d.cls in self.classes and d.box[2] > d.box[0] and d.box[3] > d.box[1]:
                if not self._masked(reference_point(d.box)):
                    by_class.setdefault(d.cls, []).append(d)

        events: list[ObjectEvent] = []
        seen: list[_Track] = []
        for cls in set(by_class) | set(self._trackers):
            dets = by_class.get(cls, [])
            xyxy = np.array([d.box for d in dets], dtype=np.float64).reshape(-1, 4)
            conf = np.array([d.score for d in dets], dtype=np.float64)
            batch = sv.Detections(xyxy=xyxy, confidence=conf, data={"i": np.arange(len(dets))})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = self._tracker(cls).update(batch, timestamp=time_ms / 1000.0)
            for local, i in zip(result.tracker_id.tolist(), result.data.get("i", np.array([])).tolist(), strict=False):
                if local < 0:
                    continue  # not (yet) a confirmed track
                det = dets[int(i)]
                key = (cls, int(local))
                gid = self._ids.get(key)
                if gid is None:
                    gid = self._ids[key] = self._next_id
                    self._next_id += 1
                    obj = TrackedObject(gid, cls, det.score, det.box, time_ms, time_ms)
                    self._tracks[gid] = _Track(obj, det.score)
                t = self._tracks[gid]
                t.obj.score, t.obj.box, t.obj.last_ms = det.score, det.box, time_ms
                t.best = max(t.best, det.score)
                seen.append(t)

        # Tracks their tracker has dropped have ended: they leave their zones at their last sighting.
        alive = {(c, int(tr.tracker_id)) for c, tk in self._trackers.items() for tr in tk.tracks if tr.tracker_id >= 0}
        for key in [k for k in self._ids if k not in alive]:
            gid = self._ids.pop(key)
            t = self._tracks.pop(gid)
            for name in sorted(t.obj.zones):
                events.append(self._event("left", t, t.obj.last_ms, zone=name))

        for t in seen:
            events.extend(self._zones(t, time_ms))
        return events

    def _event(self, kind: EventKind, t: _Track, time_ms: int, **extra: Any) -> ObjectEvent:
        return ObjectEvent(kind, t.obj.track, t.obj.cls, t.obj.score, t.obj.box, time_ms, **extra)

    def _zones(self, t: _Track, now: int) -> list[ObjectEvent]:
        out: list[ObjectEvent] = []
        p = reference_point(t.obj.box)
        if not self._areas and not t.counted and self._eligible(t, None):
            t.counted = True
            out.append(self._event("detected", t, now))
        for area in self._areas:
            name = area.zone.name
            if not self._eligible(t, area.zone):
                continue
            inside = name in t.obj.zones
            if not inside and shapely.contains_xy(area.poly, p[0], p[1]):
                if not t.counted:
                    t.counted = True
                    out.append(self._event("detected", t, now, zone=name))
                t.obj.zones.add(name)
                t.entered_ms[name] = now
                t.loitered.discard(name)
                out.append(self._event("entered", t, now, zone=name))
            elif inside and not shapely.contains_xy(area.outer, p[0], p[1]):
                t.obj.zones.discard(name)
                t.entered_ms.pop(name, None)
                out.append(self._event("left", t, now, zone=name))
            if name in t.obj.zones and name not in t.loitered:
                limit = area.zone.loiter_seconds or self.objects.loiter_seconds
                stayed = (now - t.entered_ms[name]) / 1000
                if stayed >= limit:
                    t.loitered.add(name)
                    out.append(self._event("loitering", t, now, zone=name, seconds=stayed))
        for line in self._lines:
            name = line.zone.name
            d = line.signed_distance(p)
            if abs(d) < self.margin:
                continue  # on the line, within the jitter band: no side yet
            side = -1 if d < 0 else 1
            before = t.sides.get(name)
            anchor = t.anchors.get(name)
            t.sides[name], t.anchors[name] = side, p
            if before is None or before == side or anchor is None:
                continue
            if line.crossed_by(anchor, p, self.margin) and self._eligible(t, line.zone):
                out.append(self._event("line_crossed", t, now, zone=name, direction="in" if side < 0 else "out"))
        return out
