"""The SQL of licence plates (docs/analytics.md, "Licence plates"): plate reads (add, search, get,
prune), the lists and their entries, and which lists apply to a camera."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from ronda.analytics.plates.hotlist import Entry, is_pattern, like_pattern
from ronda.store.access_models import CameraGroup, CameraGroupMember
from ronda.store.models import Camera, Segment
from ronda.store.models import Event as EventRow
from ronda.store.plate_models import PlateList, PlateListEntry, PlateRead

KINDS = ("hotlist", "allowlist")


# --- reads -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReadRecord:
    """One stored plate read."""

    id: int
    camera_id: int
    time_ms: int
    plate: str
    confidence: float
    box: list[float] | None
    crop: str | None
    event_id: int | None
    track: int | None
    format: str | None
    hotlist_id: int | None
    allowlist_id: int | None

    @classmethod
    def of(cls, r: PlateRead) -> ReadRecord:
        return cls(r.id, r.camera_id, r.time_ms, r.plate, r.confidence, r.box, r.crop, r.event_id, r.track,
                   r.format, r.hotlist_id, r.allowlist_id)  # fmt: skip


def add_read(s: Session, camera_id: int, time_ms: int, plate: str, key: str, confidence: float, *,
             box: list[float] | None = None, crop: str | None = None, event_id: int | None = None,
             track: int | None = None, fmt: str | None = None, hotlist_id: int | None = None,
             allowlist_id: int | None = None) -> int:  # fmt: skip
    row = PlateRead(camera_id=camera_id, time_ms=time_ms, plate=plate, plate_key=key, confidence=confidence, box=box,
                    crop=crop, event_id=event_id, track=track, format=fmt, hotlist_id=hotlist_id,
                    allowlist_id=allowlist_id)  # fmt: skip
    s.add(row)
    s.flush()
    return row.id


def latest_vehicle_read(s: Session, cameras: Sequence[int], start_ms: int, end_ms: int) -> ReadRecord | None:
    """The newest read on these cameras in [start, end] that no allowlist matched (a council truck)."""
    row = s.scalars(
        select(PlateRead)
        .where(
            PlateRead.camera_id.in_(list(cameras)),
            PlateRead.time_ms.between(start_ms, end_ms),
            PlateRead.allowlist_id.is_(None),
        )  # fmt: skip
        .order_by(PlateRead.time_ms.desc(), PlateRead.id.desc())
        .limit(1)
    ).first()
    return ReadRecord.of(row) if row is not None else None


def get_read(s: Session, read_id: int) -> ReadRecord | None:
    row = s.get(PlateRead, read_id)
    return ReadRecord.of(row) if row is not None else None


def search_reads(s: Session, cameras: Sequence[int], start_ms: int, end_ms: int, query_key: str | None,
                 limit: int = 100, after: int | None = None) -> list[ReadRecord]:  # fmt: skip
    """Reads of ``cameras`` in [start_ms, end_ms) whose key matches ``query_key`` (a folded search text:
    anywhere in the plate, or the whole plate with wildcards; None: every read), newest first. ``after``:
    the id of the last read of the previous page (the next page starts after it)."""
    if not cameras:
        return []
    q = select(PlateRead).where(PlateRead.camera_id.in_(list(cameras)), PlateRead.time_ms >= start_ms,
                                PlateRead.time_ms < end_ms)  # fmt: skip
    if query_key:
        q = q.where(PlateRead.plate_key.like(like_pattern(query_key)))
    if after is not None:
        last = s.get(PlateRead, after)
        if last is None:
            return []
        q = q.where(or_(PlateRead.time_ms < last.time_ms,
                        and_(PlateRead.time_ms == last.time_ms, PlateRead.id < last.id)))  # fmt: skip
    q = q.order_by(PlateRead.time_ms.desc(), PlateRead.id.desc()).limit(limit)
    return [ReadRecord.of(r) for r in s.scalars(q)]


def _delete_reads(s: Session, where: Any) -> list[str]:
    """Delete the reads ``where`` selects with their ``plate.read`` events (the read *is* that event: its
    payload holds the plate); returns their crops (paths under the data directory) for the caller to
    delete once the transaction has committed."""
    rows = s.execute(select(PlateRead.id, PlateRead.crop, PlateRead.event_id).where(where)).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    events = [r.event_id for r in rows if r.event_id is not None]
    for i in range(0, len(ids), 500):
        s.execute(delete(PlateRead).where(PlateRead.id.in_(ids[i : i + 500])))
    for i in range(0, len(events), 500):
        s.execute(delete(EventRow).where(EventRow.id.in_(events[i : i + 500]), EventRow.type == "plate.read"))
    return [r.crop for r in rows if r.crop]


def prune_reads_before(s: Session, camera_id: int | None, cutoff_ms: int) -> list[str]:
    """Reads (of one camera, or every camera) older than ``cutoff_ms`` go; returns their crops."""
    where = PlateRead.time_ms < cutoff_ms
    if camera_id is not None:
        where = and_(where, PlateRead.camera_id == camera_id)
    return _delete_reads(s, where)


def oldest_recording(s: Session, camera_id: int) -> int | None:
    return s.scalar(select(func.min(Segment.start_ms)).where(Segment.camera_id == camera_id))


def unrecorded_cameras(s: Session) -> list[tuple[int, float | None]]:
    """(camera id, its retention_days) of cameras with no recording at all."""
    recorded = select(Segment.camera_id).distinct()
    return [(cid, days) for cid, days in s.execute(select(Camera.id, Camera.retention_days)
                                                   .where(Camera.id.not_in(recorded)))]  # fmt: skip


# --- which lists apply -----------------------------------------------------------------------------------------
def camera_organisations(s: Session, camera_id: int) -> set[int]:
    """The organisations owning a group the camera is in (a camera shared with an organisation is not its)."""
    q = (
        select(CameraGroup.organisation_id)
        .join(CameraGroupMember, CameraGroupMember.group_id == CameraGroup.id)
        .where(CameraGroupMember.camera_id == camera_id, CameraGroup.organisation_id.is_not(None))
    )
    return {int(o) for o in s.scalars(q) if o is not None}


def entries_for(s: Session, camera_id: int, key: str) -> list[Entry]:
    """The entries that could match a read of ``key`` on the camera: of enabled lists of the site and of the
    organisations owning the camera, the exact entries with this key and every pattern."""
    orgs = sorted(camera_organisations(s, camera_id))
    scope: ColumnElement[bool] = PlateList.organisation_id.is_(None)
    if orgs:
        scope = or_(scope, PlateList.organisation_id.in_(orgs))
    q = (
        select(PlateList.id, PlateList.name, PlateList.kind, PlateListEntry.plate, PlateListEntry.plate_key,
               PlateListEntry.reason, PlateListEntry.valid_until_ms)
        .join(PlateListEntry, PlateListEntry.list_id == PlateList.id)
        .where(PlateList.enabled.is_(True), scope,
               or_(PlateListEntry.plate_key == key, PlateListEntry.pattern.is_(True)))
    )  # fmt: skip
    return [Entry(*r) for r in s.execute(q)]


# --- lists -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ListRecord:
    id: int
    name: str
    kind: str
    organisation_id: int | None
    description: str
    enabled: bool
    entries: int
    updated_ms: int
    updated_by: str


def _list_record(s: Session, row: PlateList) -> ListRecord:
    n = s.scalar(select(func.count()).select_from(PlateListEntry).where(PlateListEntry.list_id == row.id)) or 0
    return ListRecord(row.id, row.name, row.kind, row.organisation_id, row.description, row.enabled, int(n),
                      row.updated_ms, row.updated_by)  # fmt: skip


def list_lists(s: Session, organisation_id: int | None, everything: bool) -> list[ListRecord]:
    """Every list (``everything``: a site-scope caller), else the lists of ``organisation_id``."""
    q = select(PlateList).order_by(PlateList.kind, PlateList.name, PlateList.id)
    if not everything:
        q = q.where(PlateList.organisation_id == organisation_id)
    return [_list_record(s, r) for r in s.scalars(q)]


def get_list_row(s: Session, list_id: int) -> PlateList | None:
    return s.get(PlateList, list_id)


def list_record(s: Session, row: PlateList) -> ListRecord:
    return _list_record(s, row)


def count_lists(s: Session, organisation_id: int | None) -> int:
    cond = (
        PlateList.organisation_id.is_(None) if organisation_id is None else PlateList.organisation_id == organisation_id
    )
    return int(s.scalar(select(func.count()).select_from(PlateList).where(cond)) or 0)


def name_taken(s: Session, organisation_id: int | None, name: str, but: int | None = None) -> bool:
    cond = (
        PlateList.organisation_id.is_(None) if organisation_id is None else PlateList.organisation_id == organisation_id
    )
    q = select(PlateList.id).where(cond, func.lower(PlateList.name) == name.lower())
    if but is not None:
        q = q.where(PlateList.id != but)
    return s.scalar(q.limit(1)) is not None


def add_list(s: Session, name: str, kind: str, organisation_id: int | None, description: str, enabled: bool,
             actor: str, now: int) -> PlateList:  # fmt: skip
    row = PlateList(name=name, kind=kind, organisation_id=organisation_id, description=description, enabled=enabled,
                    created_ms=now, updated_ms=now, updated_by=actor)  # fmt: skip
    s.add(row)
    s.flush()
    return row


def delete_list(s: Session, row: PlateList) -> None:
    s.execute(delete(PlateListEntry).where(PlateListEntry.list_id == row.id))  # SQLite without FK pragma too
    s.delete(row)
    s.flush()


@dataclass(frozen=True, slots=True)
class EntryRecord:
    id: int
    list_id: int
    plate: str
    pattern: bool
    reason: str
    valid_until_ms: int | None
    created_ms: int
    created_by: str

    @classmethod
    def of(cls, r: PlateListEntry) -> EntryRecord:
        return cls(r.id, r.list_id, r.plate, r.pattern, r.reason, r.valid_until_ms, r.created_ms, r.created_by)


def list_entries(s: Session, list_id: int, contains: str | None, limit: int, offset: int) -> list[EntryRecord]:
    q = select(PlateListEntry).where(PlateListEntry.list_id == list_id)
    if contains:
        q = q.where(PlateListEntry.plate_key.like(f"%{contains}%"))
    q = q.order_by(PlateListEntry.plate, PlateListEntry.id).limit(limit).offset(offset)
    return [EntryRecord.of(r) for r in s.scalars(q)]


def entry_counts(s: Session, list_id: int) -> tuple[int, int]:
    """(entries, pattern entries) of a list."""
    total = s.scalar(select(func.count()).select_from(PlateListEntry).where(PlateListEntry.list_id == list_id))
    patterns = s.scalar(select(func.count()).select_from(PlateListEntry)
                        .where(PlateListEntry.list_id == list_id, PlateListEntry.pattern.is_(True)))  # fmt: skip
    return int(total or 0), int(patterns or 0)


def existing_plates(s: Session, list_id: int, plates: Sequence[str]) -> dict[str, PlateListEntry]:
    out: dict[str, PlateListEntry] = {}
    for i in range(0, len(plates), 500):
        q = select(PlateListEntry).where(PlateListEntry.list_id == list_id,
                                         PlateListEntry.plate.in_(list(plates[i : i + 500])))  # fmt: skip
        out.update({r.plate: r for r in s.scalars(q)})
    return out


def put_entry(s: Session, list_id: int, plate: str, key: str, reason: str, valid_until_ms: int | None, actor: str,
              now: int, existing: PlateListEntry | None) -> PlateListEntry:  # fmt: skip
    """Add an entry, or (``existing``: the same plate is already on the list) replace its reason and expiry."""
    if existing is not None:
        existing.reason, existing.valid_until_ms = reason, valid_until_ms
        existing.created_ms, existing.created_by = now, actor
        return existing
    row = PlateListEntry(list_id=list_id, plate=plate, plate_key=key, pattern=is_pattern(plate), reason=reason,
                         valid_until_ms=valid_until_ms, created_ms=now, created_by=actor)  # fmt: skip
    s.add(row)
    return row


def get_entry(s: Session, list_id: int, entry_id: int) -> PlateListEntry | None:
    row = s.get(PlateListEntry, entry_id)
    return row if row is not None and row.list_id == list_id else None


def delete_entry(s: Session, row: PlateListEntry) -> None:
    s.delete(row)
    s.flush()
