"""An alarm's picture: the snapshot (with the box drawn) of its first event that has one.

Analytics events store their snapshot as a JPEG under ``DATA/analytics/snapshots/`` (the event's
``snapshot`` is the path relative to the data directory, ``ronda.analytics.service``). Notifications
carry it (inline in e-mail, as a signed link in Web Push: ``ronda.access.image_links``) and
``GET /api/v1/alarms/{id}/image`` serves it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from ronda.access.service import Principal
from ronda.errors import NotFound
from ronda.events.plate_privacy import PlateFilter
from ronda.events.visibility import visible
from ronda.store.db import Database
from ronda.store.event_models import Alarm, AlarmEvent
from ronda.store.models import Event as EventRow

MAX_IMAGE_BYTES = 4 << 20  # a 4K frame at JPEG quality 85 is well under; anything larger is not a snapshot
SNAPSHOTS = Path("analytics")  # every stored event snapshot lives below DATA/analytics/
MAX_EVENTS_LOOKED_AT = 50


@dataclass(frozen=True, slots=True)
class AlarmImage:
    alarm_id: int
    event_id: int
    camera_id: int | None
    path: Path
    event_type: str = ""  # a plate event's picture is a plate crop: only for who may read its plates

    def read(self) -> bytes:
        """The JPEG's bytes (at most ``MAX_IMAGE_BYTES``; ``OSError`` when the file went away)."""
        with self.path.open("rb") as f:
            data = f.read(MAX_IMAGE_BYTES + 1)
        if len(data) > MAX_IMAGE_BYTES:
            raise OSError(f"{self.path.name} is larger than {MAX_IMAGE_BYTES} bytes")
        return data


def snapshot_file(data_dir: Path, stored: str) -> Path | None:
    """The stored snapshot as a file inside ``DATA/analytics/``, of a size a snapshot can have; None
    otherwise (a path leading elsewhere, a missing or oversized file)."""
    root = (Path(data_dir) / SNAPSHOTS).resolve()
    try:
        path = (Path(data_dir) / stored).resolve()
        ok = path.is_relative_to(root) and path.suffix.lower() in (".jpg", ".jpeg") and path.is_file()
        return path if ok and path.stat().st_size <= MAX_IMAGE_BYTES else None
    except (OSError, ValueError):
        return None


def find_image(db: Database, data_dir: Path, alarm_id: int,
               sees: Callable[[int | None, str], bool] | None = None) -> AlarmImage | None:  # fmt: skip
    """The alarm's picture: the earliest of its events with a snapshot on its primary camera, else on
    another of its cameras; only of cameras ``sees`` accepts (when given). None when it has none."""
    with db.session() as s:
        alarm = s.get(Alarm, alarm_id)
        if alarm is None:
            return None
        rows = s.execute(
            select(EventRow.id, EventRow.camera_id, EventRow.snapshot, EventRow.type)
            .join(AlarmEvent, AlarmEvent.event_id == EventRow.id)
            .where(AlarmEvent.alarm_id == alarm_id, EventRow.snapshot.is_not(None))
            .order_by(EventRow.id)
            .limit(MAX_EVENTS_LOOKED_AT)
        ).all()
        primary = alarm.camera_id
    for eid, cam, stored, typ in sorted(rows, key=lambda r: r[1] != primary):  # stable: primary first, then by id
        if not stored or (sees is not None and not sees(cam, typ)):
            continue
        path = snapshot_file(data_dir, stored)
        if path is not None:
            return AlarmImage(alarm_id, eid, cam, path, typ)
    return None


def image_for(db: Database, data_dir: Path, caller: Principal, alarm_id: int) -> AlarmImage:
    """The picture of an alarm the caller sees, of a camera the caller sees; ``NotFound`` otherwise."""
    with db.session() as s:
        alarm = s.get(Alarm, alarm_id)
        if alarm is None or not visible(caller, alarm.cameras or []):
            raise NotFound("alarm")
    plates = PlateFilter(caller)

    def sees(cam: int | None, typ: str) -> bool:
        return cam is not None and bool(caller.visible([cam])) and not plates.hides(typ, cam)

    found = find_image(db, data_dir, alarm_id, sees)
    if found is None:
        raise NotFound("image")
    return found


__all__ = ["MAX_IMAGE_BYTES", "AlarmImage", "find_image", "image_for", "snapshot_file"]
