"""Analytics: a camera's settings (the validated model itself, so GET's answer is a valid PUT body),
motion search hits, the motion strip and object search results (docs/analytics.md)."""

from __future__ import annotations

from pydantic import Field

from ronda.analytics.settings import AnalyticsSettings as AnalyticsSettings  # the settings, as stored
from ronda.api.schemas import Out


class MotionHitView(Out):
    start: str = Field(description="ISO 8601 UTC, the first second of the run (clipped to the range)")
    end: str = Field(description="ISO 8601 UTC, the end of the run's last second (clipped to the range)")
    score: float = Field(description="0..1: share of the region's cells that moved at the run's busiest second")


class MotionSearch(Out):
    hits: list[MotionHitView]


class MotionStrip(Out):
    start: str
    end: str
    bucket_ms: float = Field(description="the length of one bucket")
    levels: list[int] = Field(description="per bucket, the largest share of the frame (%) that moved, 0..100")


class ObjectView(Out):
    id: int
    camera: int
    track: int
    cls: str = Field(alias="class", description="e.g. person, car")
    score: float = Field(description="the best detector score of the track")
    first: str = Field(description="ISO 8601 UTC, first seen")
    last: str = Field(description="ISO 8601 UTC, last seen")
    box: list[float] = Field(description="[x0, y0, x1, y1] normalised 0-1, at the best score")
    zones: list[str]
    snapshot: str | None = Field(description="URL of the snapshot with the box drawn, or null")
    event: int | None = Field(description="the object.detected event's id, or null")


class AnalyticsStatusView(Out):
    """What the analytics runtime is doing for one camera (the admin screen)."""

    camera: int
    state: str = Field(description="off (analytics not running in this process) | starting | running | "
                       "restarting | no_stream")  # fmt: skip
    stream: str | None = Field(None, description="the stream analysed: sub or main")
    fps: float = Field(0.0, description="frames analysed per second")
    dropped: int = Field(0, description="frames dropped because analysis fell behind (since the worker started)")
    lagging: bool = False
    reasons: dict[str, int] = Field(default_factory=dict, description="skipped input, counted by reason")
    last_error: str | None = None
    cpu_percent: float = Field(0.0, description="this camera's decoding and analysis, % of one core")
    restarts: int = Field(0, description="restarts of its worker process")
    width: int = 0
    height: int = 0
    codec: str | None = None
