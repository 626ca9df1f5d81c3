"""The PTZ tables (docs/ptz.md): per-dome settings and reservation, Ronda's names for the camera's presets,
and patrols. Who holds a dome right now is not stored: a session lives as long as its commands, in
the process that steers the dome."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ronda.store.models import AUTOINCREMENT, Base


class PtzCamera(Base):
    """One dome's settings and its reservation (an administrator's hold for some minutes)."""

    __tablename__ = "ptz_cameras"

    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    idle_home_s: Mapped[int] = mapped_column(Integer, default=0)  # 0: never return home on its own
    # The patrol running on the dome (it survives a restart); no foreign key: a deleted patrol stops.
    patrol_id: Mapped[int | None] = mapped_column(Integer)
    reserved_by: Mapped[str | None] = mapped_column(String(200))
    reserved_priority: Mapped[int | None] = mapped_column(Integer)
    reserved_until_ms: Mapped[int | None] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class PtzPresetName(Base):
    """The name Ronda shows for a camera preset (renaming on the camera itself would also move the preset
    to the current position: ONVIF's SetPreset stores the position with the name)."""

    __tablename__ = "ptz_preset_names"

    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))


class PtzPatrol(Base):
    """A named tour of presets with dwell times, optionally only inside a time profile."""

    __tablename__ = "ptz_patrols"
    __table_args__ = (UniqueConstraint("camera_id", "name"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{"preset": token, "dwell_s": n}]
    # No foreign key: a deleted profile makes the patrol run never (fail closed), as for roles.
    time_profile_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int | None] = mapped_column(BigInteger)
