"""The analytics tables (docs/analytics.md "Settings, records and search"): per-camera settings, motion
records and object records. Times are UTC epoch ms, except ``motion_minutes.minute`` (epoch minutes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from ronda.store.models import AUTOINCREMENT, Base, BigId


class AnalyticsSettingsRow(Base):
    """A camera's analytics settings (``ronda.analytics.settings.AnalyticsSettings`` as JSON). No row:
    the defaults (motion over the whole frame)."""

    __tablename__ = "analytics_settings"

    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str] = mapped_column(String(200))


class MotionMinute(Base):
    """One minute of one camera that had motion: 60 seconds of 16x9 cell grids and levels, packed (see
    ``ronda.analytics.repository``). One row per minute instead of one per second: a busy camera-day is
    1,440 rows, and a day's search reads them in one index range. ``cells_any`` is the union of the
    minute's grids, so a search skips minutes with nothing in its region without unpacking them."""

    __tablename__ = "motion_minutes"

    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds // 60
    cells_any: Mapped[bytes] = mapped_column(LargeBinary)  # 18 bytes
    max_level: Mapped[int] = mapped_column(SmallInteger)  # 0..100
    seconds: Mapped[int] = mapped_column(SmallInteger)  # how many of the 60 seconds had motion
    data: Mapped[bytes] = mapped_column(LargeBinary)  # zlib(60 x 18 cell bytes + 60 level bytes)


class AnalyticsObject(Base):
    """One tracked object (one track of one camera), for object search."""

    __tablename__ = "analytics_objects"
    __table_args__ = (
        Index("ix_analytics_objects_cam_time", "camera_id", "first_ms"),
        Index("ix_analytics_objects_class_time", "cls", "first_ms"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id", ondelete="CASCADE"))
    track: Mapped[int] = mapped_column(BigInteger)  # the tracker's id (stable while the tracker keeps it)
    cls: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)  # the best score seen
    first_ms: Mapped[int] = mapped_column(BigInteger)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    box: Mapped[list[float]] = mapped_column(JSON)  # [x0, y0, x1, y1] normalised, at the best score
    zones: Mapped[list[str]] = mapped_column(JSON)  # zones the object was seen in
    snapshot: Mapped[str | None] = mapped_column(String(500))  # a path under the data directory
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # its object.detected event (no key: events expire)
