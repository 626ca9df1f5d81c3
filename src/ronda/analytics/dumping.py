"""The ``dumping`` analyser: an object left in a watched zone (docs/analytics.md, "Illegal dumping").

Runs in the worker after ``motion`` and ``objects`` (``builtin.BUILTIN`` keeps that order) and reads the
live tracks the objects analyser notes on each frame (``frame.notes["objects"]``). Each analysed picture
goes to a :class:`~ronda.analytics.background.BackgroundModel`; its *stationary* pixels (new against the
120 s background, still for over a second, already in the 2 s one) inside the ``dumping`` zones (none: the
whole frame) and outside every ``mask`` zone are grouped into regions, and each region is followed as a
:class:`Candidate` from picture to picture. A candidate becomes ``dumping.detected`` once, when

* it has been still for ``dumping.hold_seconds`` (its ``since``: when its pixels stopped changing);
* it is between ``min_area`` and ``max_area`` of the frame;
* no person or vehicle track covers it now or did in the last ``VETO_GRACE_MS`` (the passer-by who put it
  down must have stepped away), and none covered it for most of its still time (then it *is* the person
  or the vehicle: a person standing, a parked car; the veto sticks while it stays);
* it is not the same surface under other light (a shadow, a lamp: ``BackgroundModel.illumination``) and
  not the hole an object left when it went (its outline is in the old background, not in the picture:
  ``BackgroundModel.edges``); both are taken into the background at once.

The long background is frozen under every candidate, so a dumped object is never absorbed: when it is
taken away its pixels show the old background again, the candidate is forgotten and the place re-arms.
A vetoed candidate (a parked car) is taken into the background after ``ABSORB_AFTER_S``.

The event's ``carrier`` is the person or vehicle track whose box came nearest to the object in the
seconds before it lay still (who brought it), and ``clip`` the stretch of recorded footage that shows it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ronda.analytics.background import BackgroundModel
from ronda.analytics.model import Box, TrackedObject
from ronda.analytics.pipeline import AnalyserFactory, EventOut, Frame, Result
from ronda.analytics.settings import AnalyticsSettings, Zone

EVENT = "dumping.detected"
PERSONS = frozenset({"person"})
VEHICLES = frozenset({"car", "truck", "bus", "motorbike", "motorcycle"})
MIN_STILL_S = 1.5  # a region becomes a candidate once its pixels have been still this long
VETO_GRACE_MS = 3000  # a person or vehicle over the object this recently: wait
COVER = 0.3  # a track covers a candidate when this share of the candidate's box is inside its box
PERSON_ASPECT = 1.6  # a person box at least this much taller than wide (in pixels) is upright
STICKY_SHARE = 0.5  # covered by persons (vehicles) this share of its still time: it is one
GONE_MS = 1500  # a candidate not seen this long is forgotten (it moved on)
REMOVED_SHARE = 0.6  # a reported object is gone when this share of it shows the old background again
ABSORB_AFTER_S = 600.0  # a vetoed still region (a parked car) becomes background after this long
GHOST_EDGE_RATIO = 1.25  # the old background's outline this much stronger than the picture's: a hole
CARRIER_BEFORE_MS = 10_000  # who brought it: tracks seen this long before it lay still ...
CARRIER_AFTER_MS = 1500  # ... and this long after
CARRIER_MAX_DIST = 0.12  # ... whose box came this close to it (normalised)
CLIP_PRE_MS = 2000  # the clip starts this long before the carrier appeared ...
CLIP_POST_MS = 2000  # ... and ends this long after the object lay still
CLIP_NO_CARRIER_MS = 20_000  # without a carrier: this long before it lay still
HISTORY_MS = 30_000

Mask = npt.NDArray[np.bool_]


@dataclass(slots=True)
class Candidate:
    """A still region followed from picture to picture."""

    id: int
    mask: Mask
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in analysis pixels (x1, y1 exclusive)
    since_ms: int  # when its pixels stopped changing
    first_ms: int  # when it became a candidate
    seen_ms: int  # last picture it was found in
    person_ms: float = 0.0  # still time during which a person covered it
    vehicle_ms: float = 0.0
    last_person_ms: int | None = None
    last_vehicle_ms: int | None = None
    veto: str | None = None  # "person", "vehicle", "size": never reported while it stays
    fired: bool = False
    fired_mask: Mask | None = None
    back_since: int | None = None  # a reported object: since when its place shows the old background


@dataclass(slots=True)
class _Sighting:
    time_ms: int
    obj: TrackedObject


@dataclass(slots=True)
class _Tracks:
    """Person and vehicle tracks seen on detector frames, for the veto and the carrier."""

    seen: deque[_Sighting] = field(default_factory=deque)
    latest: dict[int, TrackedObject] = field(default_factory=dict)

    def add(self, time_ms: int, objs: list[TrackedObject]) -> None:
        for o in objs:
            if o.cls in PERSONS or o.cls in VEHICLES:
                self.seen.append(_Sighting(time_ms, o))
                self.latest[o.track] = o
        while self.seen and self.seen[0].time_ms < time_ms - HISTORY_MS:
            self.seen.popleft()
        live = {s.obj.track for s in self.seen}
        for t in [t for t in self.latest if t not in live]:
            del self.latest[t]


class DumpingAnalyser:
    def __init__(self, camera_id: int, settings: AnalyticsSettings) -> None:
        self.camera_id = camera_id
        self.cfg = settings.dumping
        self.zones = settings.zones
        self.watch = [z for z in settings.zones if z.kind == "dumping"]
        self.bg = BackgroundModel()
        self.period_ms = 1000.0 / self.cfg.fps
        self.candidates: list[Candidate] = []
        self.tracks = _Tracks()
        self.counts: dict[str, int] = {"fired": 0, "vetoed_person": 0, "vetoed_vehicle": 0, "shadow": 0,
                                       "ghost": 0, "removed": 0}  # fmt: skip
        self._next_ms = -math.inf
        self._last_ms: int | None = None
        self._zone: Mask | None = None
        self._ids = 0

    @property
    def need(self) -> str:
        """Every frame while an object is being timed (the hold must end on time); otherwise the sparse
        look is enough (a reported or vetoed object only has to be seen going)."""
        counting = any(not c.fired and c.veto is None for c in self.candidates)
        return "all" if counting else "idle"

    # ------------------------------------------------------------------ per frame

    def feed(self, frame: Frame) -> list[Result]:
        now = frame.time_ms
        objs: list[TrackedObject] = list(frame.notes.get("objects") or [])
        if frame.notes.get("detected"):
            self.tracks.add(now, objs)
        if now < self._next_ms:
            return []
        self._next_ms = now + self.period_ms
        dt_ms = 0 if self._last_ms is None else max(0, now - self._last_ms)
        self._last_ms = now
        size = self.bg.size_for(frame.width, frame.height)
        img = self.bg.prepare(_small(frame, size))
        shape = img.shape[:2]
        if self._zone is None or self._zone.shape != shape:
            self._zone = self._zone_mask(shape)
            self.candidates = []
        freeze = self._frozen(shape)
        self.bg.update(img, now, freeze=freeze)
        self._follow(now, dt_ms, objs)
        out: list[Result] = []
        for c in list(self.candidates):
            ev = self._judge(c, now, frame)
            if ev is not None:
                out.append(ev)
        return out

    def _zone_mask(self, shape: tuple[int, int]) -> Mask:
        h, w = shape
        m = np.zeros((h, w), np.uint8)
        if self.watch:
            for z in self.watch:
                cv2.fillPoly(m, [_poly(z, w, h)], 1)
        else:
            m[:] = 1
        for z in self.zones:
            if z.kind == "mask":
                cv2.fillPoly(m, [_poly(z, w, h)], 0)
        return m.astype(bool)

    def _frozen(self, shape: tuple[int, int]) -> Mask | None:
        if not self.candidates:
            return None
        f = np.zeros(shape, bool)
        for c in self.candidates:
            f |= c.fired_mask if c.fired_mask is not None else c.mask
        return f

    def _follow(self, now: int, dt_ms: int, objs: list[TrackedObject]) -> None:
        """This picture's still regions → the candidates (matched by overlap, new ones started)."""
        assert self._zone is not None and self.bg.persist is not None
        stationary = self.bg.stationary(MIN_STILL_S)
        if not self.candidates and not stationary.any():
            return  # the usual case: nothing has stopped anywhere
        full: npt.NDArray[Any] = (stationary & self._zone).astype(np.uint8)
        h, w = full.shape
        # only the part of the picture where something is still (with a margin for the closing)
        rx, ry, rw, rh = cv2.boundingRect(full)
        ox, oy = max(0, rx - 4), max(0, ry - 4)
        still: npt.NDArray[Any] = full[oy : min(h, ry + rh + 4), ox : min(w, rx + rw + 4)]
        still = cv2.morphologyEx(still, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        still = cv2.morphologyEx(still, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(still, connectivity=8)
        frame_px = h * w
        min_px = max(4, self.cfg.min_area * frame_px)
        matched: set[int] = set()
        for i in range(1, n):
            area = int(stats[i, cv2.CC_STAT_AREA])
            if area < min_px:
                continue
            lx, ly, bw, bh = (int(v) for v in stats[i, :4])
            sub = labels[ly : ly + bh, lx : lx + bw] == i
            x, y = lx + ox, ly + oy
            box = (x, y, x + bw, y + bh)
            c = self._match(box, sub)
            if c is None:
                mask = np.zeros((h, w), bool)
                mask[y : y + bh, x : x + bw] = sub
                med = float(np.median(self.bg.persist[mask]))
                self._ids += 1
                c = Candidate(self._ids, mask, box, int(now - med * 1000), now, now)
                self.candidates.append(c)
            else:
                c.mask = np.zeros((h, w), bool)
                c.mask[y : y + bh, x : x + bw] = sub
                c.box = box
                c.seen_ms = now
            if area > self.cfg.max_area * frame_px and c.veto is None:
                c.veto = "size"
            matched.add(c.id)
            self._cover(c, now, dt_ms, objs, (w, h))
        for c in list(self.candidates):
            if c.id in matched:
                c.back_since = None
                continue
            if c.fired and c.fired_mask is not None:
                # reported: forgotten (re-armed) once its place shows the old background again
                if self.bg.matches_long(c.fired_mask) >= REMOVED_SHARE:
                    c.back_since = c.back_since or now
                    if now - c.back_since >= 1000:
                        self.candidates.remove(c)
                        self.counts["removed"] += 1
                else:
                    c.back_since = None
            elif now - c.seen_ms > GONE_MS:
                self.candidates.remove(c)

    def _match(self, box: tuple[int, int, int, int], sub: Mask) -> Candidate | None:
        best, best_share = None, 0.0
        x0, y0, x1, y1 = box
        area = max(1, int(sub.sum()))
        for c in self.candidates:
            cx0, cy0, cx1, cy1 = c.box
            if cx1 <= x0 or x1 <= cx0 or cy1 <= y0 or y1 <= cy0:
                continue
            inter = int((c.mask[y0:y1, x0:x1] & sub).sum())
            share = inter / max(1, min(area, int(c.mask.sum())))
            if share > best_share:
                best, best_share = c, share
        return best if best_share >= 0.3 else None

    def _cover(self, c: Candidate, now: int, dt_ms: int, objs: list[TrackedObject], size: tuple[int, int]) -> None:
        w, h = size
        x0, y0, x1, y1 = c.box[0] / w, c.box[1] / h, c.box[2] / w, c.box[3] / h
        own = max(1e-9, (x1 - x0) * (y1 - y0))
        for o in objs:
            bx0, by0, bx1, by1 = o.box
            inter = max(0.0, min(x1, bx1) - max(x0, bx0)) * max(0.0, min(y1, by1) - max(y0, by0))
            if inter / own < COVER:
                continue
            if o.cls in PERSONS:
                # A weak detector may call the object itself a person (a black bin bag): such a "person"
                # appeared where the object already lay and is not person-shaped. A real one walked in,
                # or stands upright.
                upright = (by1 - by0) * h >= PERSON_ASPECT * (bx1 - bx0) * w
                if not upright and o.first_ms >= c.since_ms:
                    continue
                c.person_ms += dt_ms
                c.last_person_ms = now
            elif o.cls in VEHICLES:
                c.vehicle_ms += dt_ms
                c.last_vehicle_ms = now

    # ------------------------------------------------------------------ deciding

    def _judge(self, c: Candidate, now: int, frame: Frame) -> EventOut | None:
        if c.fired:
            return None
        if c.veto is not None:
            if now - c.first_ms >= ABSORB_AFTER_S * 1000:
                self.bg.absorb(c.mask)
                self.candidates.remove(c)
            return None
        if now - c.since_ms < self.cfg.hold_seconds * 1000:
            return None
        watched = max(1.0, now - c.first_ms)
        if c.person_ms / watched >= STICKY_SHARE:
            c.veto = "person"
            self.counts["vetoed_person"] += 1
            return None
        if c.vehicle_ms / watched >= STICKY_SHARE:
            c.veto = "vehicle"
            self.counts["vetoed_vehicle"] += 1
            return None
        for last in (c.last_person_ms, c.last_vehicle_ms):
            if last is not None and now - last < VETO_GRACE_MS:
                return None  # someone is over it, or just was: wait
        if self.bg.illumination(c.mask):
            self.bg.absorb(c.mask)
            self.candidates.remove(c)
            self.counts["shadow"] += 1
            return None
        e_now, e_old = self.bg.edges(c.mask)
        if e_old > GHOST_EDGE_RATIO * e_now:
            self.bg.absorb(c.mask)
            self.candidates.remove(c)
            self.counts["ghost"] += 1
            return None
        if int(c.mask.sum()) < self.cfg.min_area * c.mask.size:
            return None
        c.fired = True
        c.fired_mask = c.mask.copy()
        self.counts["fired"] += 1
        return self._event(c, now, frame)

    def _event(self, c: Candidate, now: int, frame: Frame) -> EventOut:
        from ronda.analytics.snapshot import draw_box

        h, w = c.mask.shape
        box: Box = (round(c.box[0] / w, 4), round(c.box[1] / h, 4), round(c.box[2] / w, 4), round(c.box[3] / h, 4))
        carrier = self._carrier(box, c.since_ms)
        if carrier is not None:
            clip = {"start_ms": int(carrier["first_ms"]) - CLIP_PRE_MS, "end_ms": c.since_ms + CLIP_POST_MS}
        else:
            clip = {"start_ms": c.since_ms - CLIP_NO_CARRIER_MS, "end_ms": c.since_ms + CLIP_POST_MS}
        zone = self._zone_name(box)
        payload: dict[str, Any] = {"zone": zone, "box": list(box), "since": c.since_ms, "carrier": carrier,
                                   "clip": clip, "plate": None}  # fmt: skip
        snapshot = draw_box(frame.bgr(), box, "dumping")
        return EventOut(EVENT, now, payload, box, snapshot, severity="warning")

    def _carrier(self, box: Box, since_ms: int) -> dict[str, Any] | None:
        """The person or vehicle track whose box came nearest the object just before it lay still."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        best: tuple[float, int, _Sighting] | None = None
        for s in self.tracks.seen:
            if not since_ms - CARRIER_BEFORE_MS <= s.time_ms <= since_ms + CARRIER_AFTER_MS:
                continue
            if s.obj.first_ms > since_ms:  # appeared after the object lay there: did not bring it
                continue
            x0, y0, x1, y1 = s.obj.box
            d = math.hypot(max(x0 - cx, 0.0, cx - x1), max(y0 - cy, 0.0, cy - y1))
            key = (d, -s.time_ms)
            if best is None or key < (best[0], best[1]):
                best = (d, -s.time_ms, s)
        if best is None or best[0] > CARRIER_MAX_DIST:
            return None
        s = best[2]
        latest = self.tracks.latest.get(s.obj.track, s.obj)
        return {"track": s.obj.track, "class": s.obj.cls, "first_ms": int(latest.first_ms),
                "last_ms": int(latest.last_ms), "box": [round(v, 4) for v in s.obj.box]}  # fmt: skip

    def _zone_name(self, box: Box) -> str | None:
        """The dumping zone the object lies in (its box's bottom centre), None when watching the frame."""
        if not self.watch:
            return None
        from shapely.geometry import Point, Polygon

        p = Point((box[0] + box[2]) / 2, box[3] - 1e-6)
        for z in self.watch:
            if Polygon(z.points).buffer(1e-6).contains(p):
                return z.name
        return self.watch[0].name


def _poly(z: Zone, w: int, h: int) -> npt.NDArray[np.int32]:
    return np.array([[round(x * (w - 1)), round(y * (h - 1))] for x, y in z.points], np.int32)


def _small(frame: Frame, size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """The frame in BGR at analysis size. A decoder's 4:2:0 picture is read as it is (no scaler set up
    per frame, which costs more than the analysis) and converted and scaled by OpenCV."""
    pic = frame.picture
    fmt = getattr(getattr(pic, "format", None), "name", "")
    w, h = frame.width, frame.height
    if fmt in ("yuv420p", "yuvj420p") and w % 4 == 0 and h % 4 == 0:
        yuv = np.asarray(pic.to_ndarray())
        if yuv.shape == (h * 3 // 2, w) and size == (w // 2, h // 2):
            # half size (a 640×360 sub-stream): the chroma planes already are; only luma is scaled
            y = cv2.resize(yuv[:h], size, interpolation=cv2.INTER_AREA)
            u = yuv[h : h + h // 4].reshape(h // 2, w // 2)
            v = yuv[h + h // 4 :].reshape(h // 2, w // 2)
            return np.asarray(cv2.cvtColor(cv2.merge([y, u, v]), cv2.COLOR_YUV2BGR), dtype=np.uint8)
        if yuv.shape == (h * 3 // 2, w):
            bgr = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)
            return np.asarray(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return np.asarray(cv2.resize(frame.bgr(), size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def factory() -> AnalyserFactory:
    """The ``dumping`` analyser factory."""

    def make(camera_id: int, settings: AnalyticsSettings) -> DumpingAnalyser:
        return DumpingAnalyser(camera_id, settings)

    return make
