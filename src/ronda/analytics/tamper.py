"""The ``tamper`` analyser: the camera covered, blinded, defocused, or moved (docs/analytics.md, Camera tamper).

The whole picture is compared, at most once a second, with a reference of the scene the analyser keeps
(an average over the last ~30 s of normal looks, so that dusk, clouds and auto-exposure follow along):

* **covered**: the picture's structure is gone (its correlation with the reference is low) and its
  contrast collapsed (a hand, a cloth, spray paint on the lens);
* **blinded**: a large share of the picture is saturated that was not (a torch, a laser);
* **moved**: the picture no longer matches the reference (normalised cross-correlation of a small,
  band-passed picture: blind to brightness and contrast, not to where things are);
* **defocused**: the scene still matches, but its sharpness (Laplacian variance over the picture's
  own variance, so that light does not change it) fell against the reference's.

A condition must hold for ``tamper.hold_seconds`` (every look in between) before its event is raised, so
a hand or a passer-by in front of the lens for a moment raises nothing; a large vehicle track (bus,
truck, car) filling a fifth of the picture pauses the clock (a bus at a stop is not tamper). Each
incident raises one ``tamper.<kind>`` event with ``before`` (the last normal look) and ``after`` images,
and ``tamper.cleared`` once the picture is normal again for a few seconds. A camera that stays moved or
defocused for ``RELEARN_MS`` takes the new view as its reference (``tamper.cleared`` with
``relearned``); a covered or blinded one never does.

The analyser asks for no extra decoding (``need`` is ``idle``): the sparse keyframe looks (about one
every 2 s) are enough for a condition that must last seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ronda.analytics.pipeline import EventOut, Frame, Result
from ronda.analytics.settings import AnalyticsSettings

LOOK_MS = 1000  # at most one look a second
WIDTH = 320  # analysis width (sharpness, contrast, saturation)
TINY = (64, 36)  # the picture compared with the reference for "moved" and "covered"
REF_TAU_MS = 30_000  # the reference follows normal looks with this time constant
LEARN_LOOKS = 3  # looks before anything is judged
CLEAR_MS = 3000  # normal this long: the incident is over
RELEARN_MS = 600_000  # moved or defocused this long: the new view becomes the reference
VEHICLES = frozenset({"car", "bus", "truck"})
VEHICLE_SHARE = 0.2  # a vehicle track this large (share of the picture) pauses tamper detection
KINDS = ("covered", "blinded", "moved", "defocused")

F32 = npt.NDArray[np.float32]


@dataclass(slots=True)
class Look:
    """What one look measured."""

    tiny: F32  # band-passed, zero mean, unit variance
    std: float  # contrast (gray levels) at WIDTH
    sharp: float  # Laplacian variance / picture variance
    saturated: float  # share of pixels >= 250
    ncc: float = 1.0  # correlation with the reference


def measure(gray: npt.NDArray[np.uint8]) -> Look:
    h, w = gray.shape[:2]
    small = cv2.resize(gray, (WIDTH, max(2, round(WIDTH * h / w))), interpolation=cv2.INTER_AREA)
    mean, std = cv2.meanStdDev(small)
    s = float(std[0][0])
    lap = cv2.Laplacian(cv2.GaussianBlur(small, (3, 3), 0), cv2.CV_32F)
    sharp = float(lap.var()) / (s * s + 4.0)
    saturated = float(np.count_nonzero(small >= 250)) / small.size
    tiny = cv2.resize(small, TINY, interpolation=cv2.INTER_AREA).astype(np.float32)
    tiny -= cv2.GaussianBlur(tiny, (0, 0), 6)  # band-pass: what is where, not how bright it is overall
    return Look(_normalised(tiny), s, sharp, saturated)


def _normalised(a: F32) -> F32:
    a = a - float(a.mean())
    n = float(np.sqrt((a * a).mean()))
    return (a / n if n > 1e-3 else a * 0).astype(np.float32)


class TamperAnalyser:
    need = "idle"  # sparse looks are enough (see module doc)

    def __init__(self, camera_id: int, settings: AnalyticsSettings) -> None:
        t = settings.tamper
        k = (t.sensitivity - 50) / 50  # -1 .. 1
        self.camera_id = camera_id
        self.hold_ms = t.hold_seconds * 1000
        self.match = 0.5 + 0.15 * k  # correlation with the reference below this: not the same view
        self.contrast = 0.3 + 0.1 * k  # contrast below this share of the reference's (with no match): covered
        self.blind = 0.4 - 0.15 * k  # this much more of the picture saturated: blinded
        self.defocus = 0.4 + 0.15 * k  # sharpness below this share of the reference's: defocused
        self.ref: Look | None = None
        self.looks = 0
        self._next_ms = 0
        self._last_ms: int | None = None
        self._last_ok: Frame | None = None  # the last normal look: an incident's "before"
        self.pending_since: int | None = None
        self.before: Frame | None = None
        self.active: str | None = None
        self.active_since = 0
        self.active_measures: dict[str, float] = {}
        self.clear_since: int | None = None

    def feed(self, frame: Frame) -> list[Result]:
        t = frame.time_ms
        if t < self._next_ms and not (self._last_ms is not None and t < self._last_ms):
            return []
        self._next_ms = t + LOOK_MS
        self._last_ms = t
        look = measure(frame.gray())
        if self.ref is None or self.ref.tiny.shape != look.tiny.shape:
            self.ref, self.looks, self._last_ok = look, 1, frame
            return []
        look.ncc = float((look.tiny * self.ref.tiny).mean())
        kind = self.judge(look) if self.looks >= LEARN_LOOKS else None
        if kind is not None and self.active is None and _vehicle_in_front(frame):
            return []  # a bus at the stop: the clock neither runs nor restarts, the reference waits
        out: list[Result] = []
        if self.active is None:
            if kind is None:
                self.pending_since = None
                self._learn(look, t)
                self._last_ok = frame
            else:
                if self.pending_since is None:
                    self.pending_since, self.before = t, self._last_ok
                if t - self.pending_since >= self.hold_ms:
                    out.append(self._raise(kind, look, frame))
        elif kind is None:
            self.clear_since = self.clear_since if self.clear_since is not None else t
            if t - self.clear_since >= CLEAR_MS:
                out.append(self._cleared(frame, relearned=False))
                self._learn(look, t)
                self._last_ok = frame
        else:
            self.clear_since = None
            if self.active in ("moved", "defocused") and t - self.active_since >= RELEARN_MS:
                out.append(self._cleared(frame, relearned=True))
                self.ref, self.looks, self._last_ok = look, 1, frame
        return out

    def judge(self, look: Look) -> str | None:
        """Which tamper this look shows against the reference, if any."""
        ref = self.ref
        assert ref is not None
        if look.saturated - ref.saturated >= self.blind:
            return "blinded"
        same = look.ncc >= self.match
        if not same and (look.std < self.contrast * ref.std or look.std < 4.0):
            return "covered"
        if not same:
            return "moved"
        if ref.sharp > 0 and look.sharp < self.defocus * ref.sharp:
            return "defocused"
        return None

    def _learn(self, look: Look, t: int) -> None:
        ref = self.ref
        assert ref is not None
        self.looks += 1
        a = 1.0 / self.looks if self.looks <= LEARN_LOOKS else min(1.0, LOOK_MS / REF_TAU_MS)
        ref.tiny = _normalised(ref.tiny + a * (look.tiny - ref.tiny))
        ref.std += a * (look.std - ref.std)
        ref.sharp += a * (look.sharp - ref.sharp)
        ref.saturated += a * (look.saturated - ref.saturated)

    def _measures(self, look: Look) -> dict[str, float]:
        ref = self.ref
        assert ref is not None
        return {"match": round(look.ncc, 3), "contrast": round(look.std / max(ref.std, 1e-3), 3),
                "sharpness": round(look.sharp / max(ref.sharp, 1e-6), 3),
                "saturated": round(look.saturated, 3)}  # fmt: skip

    def _raise(self, kind: str, look: Look, frame: Frame) -> EventOut:
        assert self.pending_since is not None
        self.active, self.active_since, self.clear_since = kind, self.pending_since, None
        self.active_measures = self._measures(look)
        payload: dict[str, Any] = {"kind": kind, "since_ms": self.pending_since, **self.active_measures}
        after = frame.jpeg()
        images = {"after": after}
        if self.before is not None:
            images["before"] = self.before.jpeg()
        self.pending_since = None
        return EventOut(f"tamper.{kind}", frame.time_ms, payload, None, after, "warning", images)

    def _cleared(self, frame: Frame, relearned: bool) -> EventOut:
        kind, self.active, self.clear_since = self.active, None, None
        payload: dict[str, Any] = {"kind": kind, "seconds": round((frame.time_ms - self.active_since) / 1000, 1),
                                   "relearned": relearned}  # fmt: skip
        return EventOut("tamper.cleared", frame.time_ms, payload, None, frame.jpeg())


def _vehicle_in_front(frame: Frame) -> bool:
    for t in frame.notes.get("objects") or ():
        x0, y0, x1, y1 = t.box
        if t.cls in VEHICLES and (x1 - x0) * (y1 - y0) >= VEHICLE_SHARE:
            return True
    return False


def factory(camera_id: int, settings: AnalyticsSettings) -> TamperAnalyser:
    return TamperAnalyser(camera_id, settings)
