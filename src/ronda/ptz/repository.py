"""The PTZ SQL (``store/ptz_models.py``). Every function takes the caller's session, so a service call and
its audit entry are one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ronda.access.rights import NEVER, TimeProfile
from ronda.ptz.arbiter import Reservation
from ronda.ptz.controller import PatrolPlan
from ronda.store import access_models as am
from ronda.store.ptz_models import PtzCamera, PtzPatrol, PtzPresetName
from ronda.timeutil import now_ms


def settings(s: Session, camera_id: int, create: bool = False) -> PtzCamera | None:
    row = s.get(PtzCamera, camera_id)
    if row is None and create:
        row = PtzCamera(camera_id=camera_id, idle_home_s=0, updated_ms=now_ms())
        s.add(row)
        s.flush()
    return row


def reservation_of(row: PtzCamera | None) -> Reservation | None:
    if row is None or row.reserved_by is None or row.reserved_until_ms is None:
        return None
    return Reservation(row.reserved_by, row.reserved_priority or 0, row.reserved_until_ms)


def preset_names(s: Session, camera_id: int) -> dict[str, str]:
    rows = s.execute(select(PtzPresetName.token, PtzPresetName.name).where(PtzPresetName.camera_id == camera_id))
    return {t: n for t, n in rows}


def set_preset_name(s: Session, camera_id: int, token: str, name: str) -> None:
    row = s.get(PtzPresetName, (camera_id, token))
    if row is None:
        s.add(PtzPresetName(camera_id=camera_id, token=token, name=name))
    else:
        row.name = name
    s.flush()


def forget_preset(s: Session, camera_id: int, token: str) -> None:
    s.execute(delete(PtzPresetName).where(PtzPresetName.camera_id == camera_id, PtzPresetName.token == token))


def profile(s: Session, profile_id: int | None) -> TimeProfile | None:
    """The patrol's time profile; a missing or malformed one never applies (fail closed)."""
    if profile_id is None:
        return None
    row = s.get(am.TimeProfile, profile_id)
    if row is None:
        return NEVER
    try:
        return TimeProfile.parse(row.timezone, row.rules)
    except (ValueError, TypeError):
        return NEVER


def profile_exists(s: Session, profile_id: int) -> bool:
    return s.get(am.TimeProfile, profile_id) is not None


def plan(s: Session, row: PtzPatrol) -> PatrolPlan:
    steps = tuple((str(st["preset"]), float(st["dwell_s"])) for st in row.steps)
    return PatrolPlan(row.id, row.name, steps, profile(s, row.time_profile_id))


def patrols(s: Session, camera_id: int) -> list[PtzPatrol]:
    return list(s.scalars(select(PtzPatrol).where(PtzPatrol.camera_id == camera_id).order_by(PtzPatrol.id)))


def patrol(s: Session, camera_id: int, patrol_id: int) -> PtzPatrol | None:
    row = s.get(PtzPatrol, patrol_id)
    return row if row is not None and row.camera_id == camera_id else None


def patrol_named(s: Session, camera_id: int, name: str) -> PtzPatrol | None:
    return s.scalar(select(PtzPatrol).where(PtzPatrol.camera_id == camera_id, PtzPatrol.name == name))


def count_patrols(s: Session, camera_id: int) -> int:
    return int(s.scalar(select(func.count()).select_from(PtzPatrol).where(PtzPatrol.camera_id == camera_id)) or 0)


def add_patrol(s: Session, camera_id: int, name: str, steps: list[dict[str, Any]], profile_id: int | None,
               by: str) -> PtzPatrol:  # fmt: skip
    row = PtzPatrol(camera_id=camera_id, name=name, steps=steps, time_profile_id=profile_id, created_by=by,
                    created_ms=now_ms())  # fmt: skip
    s.add(row)
    s.flush()
    return row
