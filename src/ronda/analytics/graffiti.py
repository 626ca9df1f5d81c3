"""The ``graffiti`` analyser: a watched surface whose appearance changes for good (docs/analytics.md,
Graffiti and vandalism).

Each ``graffiti`` zone (a wall, a monument, a bench) keeps a reference picture of itself, taken and
slowly refreshed only while nothing stands in front of it. At most once a second the zone is compared
with its reference:

* **lighting** is matched first: the reference's brightness is scaled to the picture's by the median of
  the pixels' ratios over the zone and the wall around it (its box grown by half on each side), which
  marks or a torn-off sign covering even half of the zone do not move, so a cloud, dusk or
  auto-exposure change nothing; what is left over the noise (4 × the spread of the residual, never under
  the sensitivity's floor) inside the zone is a change, speckle removed;
* **people passing** are not changes: while a track the ``objects`` analyser noted on the frame
  (``frame.notes["objects"]``) overlaps the zone, and for ``GRACE_MS`` after, the zone is not looked at;
  once it is clear, the change must stay the same (the changed pixels of consecutive looks overlapping
  by half) for ``graffiti.hold_seconds`` (default 10 s) before it counts. A passer-by the detector missed
  changes from look to look and never lasts; the motion detector's box is not used, because new paint
  is "motion" to it until its own background absorbs it (15-30 s).

A change that lasted raises one ``graffiti.detected`` event with the zone's ``before`` (its last clear
look) and ``after`` pictures, the changed box, the share of the zone that changed, the track that last
stood in front of the zone (``{"track", "class", "first_ms", "last_ms"}``, a person's preferred, or
null) and, when the edges tell, ``kind``: ``marks`` (new edges: paint, stickers, scratches) or
``damage`` (edges gone: a sign torn off, a smashed panel). The zone's reference then becomes the new
appearance (it re-arms at once for the next change), and the old one is kept: if the surface comes back
to it (cleaned, repaired), the reference returns without an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ronda.analytics.model import Box, TrackedObject
from ronda.analytics.pipeline import EventOut, Frame, Result
from ronda.analytics.settings import AnalyticsSettings, Zone

LOOK_MS = 1000  # at most one comparison a second
WIDTH = 320  # analysis width
GRACE_MS = 1500  # after a track left the zone, it stays "occupied" this long (the box lags the person)
REF_TAU_MS = 120_000  # the reference's slow refresh on unchanged pixels
STABLE_IOU = 0.5  # consecutive looks' changes overlap this much: the same change
MIN_LOOKS = 2  # a change must be seen by at least this many looks
CONTEXT = 0.5  # the zone's box grown by this share of its size on each side: the lighting's reference

F32 = npt.NDArray[np.float32]


@dataclass
class _Zone:
    name: str
    points: list[tuple[float, float]]
    nbox: Box  # the polygon's bounding box, normalised
    px: tuple[int, int, int, int] = (0, 0, 0, 0)  # the same in analysis pixels
    mask: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros((0, 0), bool))
    area: int = 0
    ref: F32 | None = None
    clean: F32 | None = None  # the reference before the last event: the surface restored
    before: Frame | None = None  # the last clear look with no change
    prev: npt.NDArray[np.bool_] | None = None
    change_since: int | None = None
    looks: int = 0
    occupied_until: int = 0
    last_ms: int = 0
    who: dict[str, Any] | None = None  # the last track in front of the zone


class GraffitiAnalyser:
    need = "idle"  # sparse looks are enough: a change must last seconds

    def __init__(self, camera_id: int, settings: AnalyticsSettings, zones: list[Zone]) -> None:
        g = settings.graffiti
        self.camera_id = camera_id
        self.hold_ms = g.hold_seconds * 1000
        self.min_area = g.min_area
        self.floor = 8.0 + 40.0 * (100 - g.sensitivity) / 99  # gray levels: 50 → ~28, 100 → 8, 1 → 48
        self.zones = [_Zone(z.name, list(z.points), _bbox(z.points)) for z in zones]
        self._size: tuple[int, int] | None = None
        self._next_ms = 0

    def feed(self, frame: Frame) -> list[Result]:
        t = frame.time_ms
        tracks: list[TrackedObject] = list(frame.notes.get("objects") or ())
        for z in self.zones:
            inside = [tr for tr in tracks if _overlap(tr.box, z.nbox) > 0.0]
            if inside:
                z.occupied_until = t + GRACE_MS
                z.change_since, z.prev = None, None  # persistence counts from when they leave
                best = max(inside, key=lambda tr: (tr.cls == "person", tr.last_ms))
                z.who = {"track": best.track, "class": best.cls, "first_ms": best.first_ms, "last_ms": best.last_ms}
        if t < self._next_ms and t >= self._next_ms - LOOK_MS:
            return []
        self._next_ms = t + LOOK_MS
        gray = frame.gray()
        h, w = gray.shape[:2]
        size = (WIDTH, max(2, round(WIDTH * h / w)))
        if size != self._size:
            self._size = size
            for z in self.zones:
                self._raster(z, size)
        small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        out: list[Result] = []
        for z in self.zones:
            if z.area == 0 or t < z.occupied_until:
                continue
            x0, y0, x1, y1 = z.px
            crop = cv2.GaussianBlur(small[y0:y1, x0:x1], (3, 3), 0).astype(np.float32)
            event = self._look(z, crop, frame)
            if event is not None:
                out.append(event)
        return out

    def _raster(self, z: _Zone, size: tuple[int, int]) -> None:
        w, h = size
        x0, y0, x1, y1 = z.nbox
        mx, my = CONTEXT * (x1 - x0), CONTEXT * (y1 - y0)  # the zone and the wall around it (lighting)
        left, top = int(max(0.0, x0 - mx) * w), int(max(0.0, y0 - my) * h)
        px = (left, top, max(left + 1, int(np.ceil(min(1.0, x1 + mx) * w))),
              max(top + 1, int(np.ceil(min(1.0, y1 + my) * h))))  # fmt: skip
        full = np.zeros((h, w), np.uint8)
        cv2.fillPoly(full, [np.round(np.array(z.points) * (w, h)).astype(np.int32)], 1)
        z.px, z.mask = px, full[px[1] : px[3], px[0] : px[2]].astype(bool)
        z.area = int(z.mask.sum())
        z.ref = z.clean = z.prev = None
        z.change_since, z.looks = None, 0

    def _look(self, z: _Zone, crop: F32, frame: Frame) -> EventOut | None:
        t = frame.time_ms
        if z.ref is None or t < z.last_ms:  # first look, or time went back (a new stream): learn
            z.ref, z.before, z.last_ms, z.prev, z.change_since = crop, frame, t, None, None
            return None
        dt = t - z.last_ms
        z.last_ms = t
        changed, fitted = self._changed(z, crop, z.ref)
        share = float(changed.sum()) / z.area
        if share < self.min_area:
            a = min(1.0, dt / REF_TAU_MS)
            z.ref = z.ref + a * (fitted - z.ref) * ~changed  # the slow refresh, where nothing changed
            z.before, z.prev, z.change_since = frame, None, None
            return None
        if z.prev is None or _iou(changed, z.prev) < STABLE_IOU:
            z.change_since, z.looks = t, 0
        z.prev = changed
        z.looks += 1
        assert z.change_since is not None
        if t - z.change_since < self.hold_ms or z.looks < MIN_LOOKS:
            return None
        old, z.ref, z.prev, z.change_since = z.ref, crop, None, None
        if z.clean is not None and float(self._changed(z, crop, z.clean)[0].sum()) / z.area < self.min_area:
            z.clean, z.before = None, frame  # back to how it was before the last event: cleaned
            return None
        z.clean = old
        return self._event(z, changed, old, crop, share, frame)

    def _changed(self, z: _Zone, crop: F32, ref: F32) -> tuple[npt.NDArray[np.bool_], F32]:
        """The pixels of ``crop`` that differ from ``ref`` once brightness is matched; ``crop`` mapped
        into the reference's brightness (for the refresh)."""
        # the median of the pixels' ratios over the zone and its surroundings: a change covering half the
        # zone (a sign torn off) or paint darkening it does not move it, light does
        c, r = crop[::2, ::2], ref[::2, ::2]
        gain = min(5.0, max(0.2, float(np.median(c / np.maximum(r, 4.0)))))
        diff = np.abs(crop - gain * ref)
        noise = float(np.median(diff[::2, ::2])) * 1.5  # the spread of |N(0, s)|: its median is 0.67 s
        thr = max(self.floor, 4.0 * noise)
        raw = ((diff > thr) & z.mask).astype(np.uint8)
        changed = np.asarray(cv2.morphologyEx(raw, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)), dtype=bool)
        return changed, (crop / gain).astype(np.float32)

    def _event(self, z: _Zone, changed: npt.NDArray[np.bool_], old: F32, crop: F32, share: float,
               frame: Frame) -> EventOut:  # fmt: skip
        assert self._size is not None
        w, h = self._size
        ys, xs = np.nonzero(changed)
        x0, y0 = z.px[0], z.px[1]
        box: Box = ((x0 + xs.min()) / w, (y0 + ys.min()) / h, (x0 + xs.max() + 1) / w, (y0 + ys.max() + 1) / h)
        payload: dict[str, Any] = {"zone": z.name, "area": round(share, 4), "track": z.who}
        kind = _kind(old, crop, changed)
        if kind is not None:
            payload["kind"] = kind
        after = frame.jpeg([box])
        images = {"after": after}
        if z.before is not None:
            images["before"] = z.before.jpeg([box])
        z.before = frame
        return EventOut("graffiti.detected", frame.time_ms, payload, box, after, "warning", images)


def _kind(old: F32, new: F32, changed: npt.NDArray[np.bool_]) -> str | None:
    """``marks`` when the change brought edges, ``damage`` when it took them away, else None."""
    area = cv2.dilate(changed.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)

    def edges(img: F32) -> float:
        gx, gy = cv2.Sobel(img, cv2.CV_32F, 1, 0), cv2.Sobel(img, cv2.CV_32F, 0, 1)
        mag = np.sqrt(gx * gx + gy * gy)
        return float(mag[area].mean()) / (float(img.mean()) + 1.0)  # per unit of brightness: light-proof

    before, after = edges(old), edges(new)
    if after > 1.2 * before:
        return "marks"
    if after < 0.8 * before:
        return "damage"
    return None


def _bbox(points: list[tuple[float, float]]) -> Box:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    union = int(np.count_nonzero(a | b))
    return int(np.count_nonzero(a & b)) / union if union else 1.0


def factory(camera_id: int, settings: AnalyticsSettings) -> GraffitiAnalyser | None:
    """None for a camera without a graffiti zone: there is nothing to watch."""
    zones = [z for z in settings.zones if z.kind == "graffiti"]
    return GraffitiAnalyser(camera_id, settings, zones) if zones else None
