"""A camera's analytics settings: what runs on it, where, and how sensitive (docs/analytics.md).

One validated model for every way settings come in (``PUT /cameras/{id}/analytics``, the YAML
``cameras[].analytics`` block): unknown keys are refused with their path, polygons must lie inside
the frame, have at least 3 points and not cross themselves, a line has 2 points. With no settings a
camera runs motion over the whole frame (``AnalyticsSettings()``).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import LineString, Polygon

from ronda.analytics.model import STREET_CLASSES, DetectorName, ZoneKind

MAX_ZONES = 32
MAX_POINTS = 64
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Zone(_Model):
    name: str = Field(min_length=1, max_length=64, description="Shown in events and alarms.")
    kind: ZoneKind = Field(description="include: motion and objects count only inside include zones (if any); "
                           "mask: never counted; dumping/graffiti: watched by those detectors; line: a "
                           "crossing line (2 points; 'in' is the left side walking from the first point).")  # fmt: skip
    points: list[tuple[float, float]] = Field(description="Normalised 0-1, origin top left.")
    classes: list[str] | None = Field(None, max_length=80, description="Object classes counted here (default: all).")
    min_score: float | None = Field(None, ge=0.05, le=1.0, description="Minimum detector score here.")
    loiter_seconds: float | None = Field(None, gt=0, le=86400, description="object.loitering after this long inside.")

    @field_validator("points")
    @classmethod
    def _inside_frame(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(v) > MAX_POINTS:
            raise ValueError(f"at most {MAX_POINTS} points")
        for x, y in v:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point ({x}, {y}) is outside the frame (coordinates are 0-1)")
        return v

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.kind == "line":
            if len(self.points) != 2:
                raise ValueError(f"zone {self.name!r}: a line has exactly 2 points")
            if LineString(self.points).length < 0.01:
                raise ValueError(f"zone {self.name!r}: the line is too short")
            return self
        if len(self.points) < 3:
            raise ValueError(f"zone {self.name!r}: a polygon needs at least 3 points, got {len(self.points)}")
        poly = Polygon(self.points)
        if not poly.is_valid:
            raise ValueError(f"zone {self.name!r}: the polygon crosses itself")
        if poly.area < 1e-4:
            raise ValueError(f"zone {self.name!r}: the polygon has no area")
        return self


class TimeWindow(_Model):
    """When a detector runs (camera-site local time): days 0 = Monday … 6 = Sunday."""

    days: list[int] = Field(default_factory=lambda: list(range(7)), min_length=1, max_length=7)
    start: str = Field("00:00", description="HH:MM")
    end: str = Field("24:00", description="HH:MM; 24:00 is the end of the day; end < start spans midnight.")

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in v):
            raise ValueError("days are 0 (Monday) to 6 (Sunday)")
        return sorted(set(v))

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if v != "24:00" and not _TIME.match(v):
            raise ValueError(f"{v!r} is not a time of day HH:MM")
        return v


class MotionSettings(_Model):
    fps: float = Field(5.0, ge=0.5, le=15.0, description="Frames analysed per second.")
    sensitivity: int = Field(50, ge=1, le=100, description="Higher: smaller brightness changes count as motion.")
    min_area: float = Field(0.002, ge=0.0, le=0.5, description="Smallest moving area, as a share of the frame.")
    schedule: list[TimeWindow] = Field(default_factory=list, max_length=28, description="Empty: always.")
    decode: Literal["adaptive", "all"] = Field(
        "adaptive",
        description="adaptive: a keyframe every 2 s while nothing moves, every frame to confirm a "
        "start or follow objects (movements under ~2 s may be missed); all: every frame, full decode cost.",
    )


class ObjectSettings(_Model):
    model: str = Field("default", min_length=1, max_length=64, description="A model named in analytics.models.")
    classes: list[str] = Field(default_factory=lambda: list(STREET_CLASSES), min_length=1, max_length=80)
    min_score: float = Field(0.4, ge=0.05, le=1.0)
    fps: float = Field(3.0, ge=0.2, le=10.0, description="Detector frames per second while there is motion.")
    loiter_seconds: float = Field(60.0, gt=0, le=86400, description="Default for zones without their own.")


class GraffitiSettings(_Model):
    sensitivity: int = Field(50, ge=1, le=100, description="Higher: fainter marks on a graffiti zone count.")
    hold_seconds: float = Field(10.0, ge=2.0, le=3600.0, description="A change must stay this long with "
                                "nobody in front of the zone to count (graffiti.detected).")  # fmt: skip
    min_area: float = Field(0.01, ge=0.001, le=0.5, description="Smallest change, as a share of the zone.")


class TamperSettings(_Model):
    sensitivity: int = Field(50, ge=1, le=100, description="Higher: smaller losses of picture count as tamper.")
    hold_seconds: float = Field(5.0, ge=1.0, le=600.0, description="Covered, blinded, defocused or moved this "
                                "long (a hand passing the lens is not tamper).")  # fmt: skip


class PlateSettings(_Model):
    """Licence plate reading (docs/analytics.md, Licence plates)."""

    classes: list[str] = Field(default_factory=lambda: ["car", "truck", "bus", "motorbike"], min_length=1,
                               max_length=16, description="Tracks of these classes are read.")  # fmt: skip
    min_confidence: float = Field(0.5, ge=0.05, le=1.0, description="Reads below this are ignored.")
    reads_per_track: int = Field(5, ge=1, le=50, description="At most this many reads of one vehicle.")
    read_interval_s: float = Field(
        0.4, ge=0.0, le=60.0, description="At least this long between two reads of one vehicle."
    )
    emit_confidence: float = Field(0.8, ge=0.05, le=1.0, description="plate.read before the vehicle leaves once two "
                                   "reads agree at this confidence (else when its track ends).")  # fmt: skip
    frame_mode: bool = Field(False, description="Also read the whole picture when no vehicle is tracked (a close-up "
                             "entry camera where the detector sees no car); costs seconds per look.")  # fmt: skip
    frame_interval_s: float = Field(3.0, ge=0.5, le=3600.0, description="Frame mode: one look this often.")


NEEDS_OBJECTS = frozenset({"dumping", "graffiti", "plates"})  # detectors that read the objects analyser's tracks


class DumpingSettings(_Model):
    hold_seconds: float = Field(10.0, ge=2.0, le=3600.0, description="An object must lie still this long.")
    min_area: float = Field(0.001, ge=0.0, le=0.5, description="Smallest object, as a share of the frame.")
    max_area: float = Field(0.15, gt=0.0, le=1.0, description="Largest object, as a share of the frame.")
    fps: float = Field(2.0, ge=0.5, le=10.0, description="Pictures analysed per second.")
    plate_cameras: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(
        default_factory=list, max_length=16, description="Cameras whose plate reads are this one's too (the LPR "
        "camera of the street the dumper drives in by); the camera's own reads always count.")  # fmt: skip
    plate_window_s: float = Field(300.0, ge=0.0, le=3600.0, description="A vehicle plate read at most this "
                                  "long before the object lay still is named in dumping.detected.")  # fmt: skip

    @model_validator(mode="after")
    def _areas(self) -> Self:
        if self.min_area >= self.max_area:
            raise ValueError("min_area must be smaller than max_area")
        return self


def _motion_only() -> list[DetectorName]:
    return ["motion"]


class AnalyticsSettings(_Model):
    detectors: list[DetectorName] = Field(default_factory=_motion_only, max_length=6)
    stream: str = Field("auto", pattern="^(auto|sub|main)$", description="auto: the sub-stream when there is one.")
    zones: list[Zone] = Field(default_factory=list, max_length=MAX_ZONES)
    motion: MotionSettings = MotionSettings()
    objects: ObjectSettings = ObjectSettings()
    dumping: DumpingSettings = DumpingSettings()
    graffiti: GraffitiSettings = GraffitiSettings()
    tamper: TamperSettings = TamperSettings()
    plates: PlateSettings = PlateSettings()

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [z.name for z in self.zones]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"zone names must be unique: {', '.join(sorted(dup))}")
        if NEEDS_OBJECTS & set(self.detectors) and "objects" not in self.detectors:
            # dumping: the person and vehicle vetoes and the carrier; graffiti: who stands in front of the
            # wall; plates: read on vehicle tracks
            self.detectors = ["objects", *self.detectors]
        if "objects" in self.detectors and "motion" not in self.detectors:
            # The detector runs on motion only (docs/analytics.md): objects without motion never run.
            self.detectors = ["motion", *self.detectors]
        return self
