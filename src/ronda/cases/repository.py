"""The SQL of cases (docs/cases.md). Callers pass a session; nothing here checks rights."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from ronda.store.access_models import CameraGroup, CameraGroupMember, CameraShare, Organisation
from ronda.store.case_models import Case, CaseCamera, CaseEvidence, CaseLink, CaseNote, CaseSnapshot
from ronda.store.event_models import Alarm, AlarmEvent
from ronda.store.map_models import MapPosition
from ronda.store.models import Bookmark, Event, ExportJobRow

MAX_EVENTS_OF_ALARM = 200


def next_seq(s: Session, year: int) -> int:
    """The next number of ``year`` (the unique constraint on (year, seq) settles a race: the caller retries)."""
    return int(s.scalar(select(func.coalesce(func.max(Case.seq), 0)).where(Case.year == year)) or 0) + 1


def add_case(s: Session, case: Case, cameras: Sequence[int], links: Sequence[CaseLink],
             snapshots: Sequence[CaseSnapshot]) -> Case:  # fmt: skip
    s.add(case)
    s.flush()
    s.add_all(CaseCamera(case_id=case.id, camera_id=c) for c in dict.fromkeys(cameras))
    for link in links:
        link.case_id = case.id
        s.add(link)
    for snap in snapshots:
        snap.case_id = case.id
        s.add(snap)
    s.flush()
    return case


def get_case(s: Session, case_id: int) -> Case | None:
    return s.get(Case, case_id)


def cameras_of(s: Session, case_id: int) -> list[int]:
    return list(s.scalars(select(CaseCamera.camera_id).where(CaseCamera.case_id == case_id)
                          .order_by(CaseCamera.camera_id)))  # fmt: skip


def links_of(s: Session, case_id: int) -> list[CaseLink]:
    q = select(CaseLink).where(CaseLink.case_id == case_id).order_by(CaseLink.kind, CaseLink.ref_id)
    return list(s.scalars(q))


def notes_of(s: Session, case_id: int) -> list[CaseNote]:
    return list(s.scalars(select(CaseNote).where(CaseNote.case_id == case_id).order_by(CaseNote.id)))


def evidence_of(s: Session, case_id: int) -> list[CaseEvidence]:
    return list(s.scalars(select(CaseEvidence).where(CaseEvidence.case_id == case_id).order_by(CaseEvidence.id)))


def snapshots_of(s: Session, case_id: int) -> list[CaseSnapshot]:
    return list(s.scalars(select(CaseSnapshot).where(CaseSnapshot.case_id == case_id).order_by(CaseSnapshot.id)))


def add_note(s: Session, note: CaseNote) -> CaseNote:
    s.add(note)
    s.flush()
    return note


def add_evidence(s: Session, row: CaseEvidence) -> CaseEvidence:
    s.add(row)
    s.flush()
    return row


def settle_evidence(s: Session, evidence_id: int, **values: object) -> bool:
    """Record how a pending package ended; False when another reader settled it first."""
    q = update(CaseEvidence).where(CaseEvidence.id == evidence_id, CaseEvidence.status == "pending")
    return bool(s.execute(q.values(**values)).rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    type: str | None = None
    camera: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    text: str | None = None
    plate: str | None = None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _visible(q: Select[Any], organisation: int | None | bool, cameras: Collection[int]) -> Select[Any]:
    """Cases whose every camera is in ``cameras``, of ``organisation`` (``True``: any; ``None``: the site's)."""
    if organisation is not True:
        q = q.where(Case.organisation_id.is_(None) if organisation is None else Case.organisation_id == organisation)
    outside = exists().where(CaseCamera.case_id == Case.id, CaseCamera.camera_id.not_in(sorted(cameras) or [-1]))
    return q.where(~outside)


def search(s: Session, organisation: int | None | bool, cameras: Collection[int], f: Filters, limit: int,
           offset: int) -> tuple[list[Case], int]:  # fmt: skip
    """Visible cases matching ``f``, newest offence first, and how many match in all."""
    q = _visible(select(Case), organisation, cameras)
    if f.status:
        q = q.where(Case.status == f.status)
    if f.type:
        q = q.where(Case.type == f.type)
    if f.camera is not None:
        q = q.where(exists().where(CaseCamera.case_id == Case.id, CaseCamera.camera_id == f.camera))
    if f.start_ms is not None:
        q = q.where(Case.offence_ms >= f.start_ms)
    if f.end_ms is not None:
        q = q.where(Case.offence_ms < f.end_ms)
    if f.plate:
        q = q.where(Case.plate.like(_like(f.plate), escape="\\"))
    if f.text:
        pattern = _like(f.text.lower())
        noted = exists().where(CaseNote.case_id == Case.id, func.lower(CaseNote.text).like(pattern, escape="\\"))
        columns = (Case.number, Case.title, Case.offender, Case.plate, Case.fine_reference)
        q = q.where(or_(*(func.lower(c).like(pattern, escape="\\") for c in columns), noted))
    total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
    rows = s.scalars(q.order_by(Case.offence_ms.desc(), Case.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


# --- what a case is made from ---------------------------------------------------------------------------
def events(s: Session, ids: Sequence[int]) -> list[Event]:
    found = {e.id: e for e in s.scalars(select(Event).where(Event.id.in_(list(ids))))}
    return [found[i] for i in ids if i in found]


def alarm(s: Session, alarm_id: int) -> Alarm | None:
    return s.get(Alarm, alarm_id)


def alarm_event_ids(s: Session, alarm_id: int) -> list[int]:
    q = select(AlarmEvent.event_id).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.event_id)
    return list(s.scalars(q.limit(MAX_EVENTS_OF_ALARM)))


def bookmark(s: Session, bookmark_id: int) -> Bookmark | None:
    return s.get(Bookmark, bookmark_id)


def map_position(s: Session, camera_id: int) -> MapPosition | None:
    return s.get(MapPosition, camera_id)


def export_job(s: Session, job_id: str) -> ExportJobRow | None:
    return s.get(ExportJobRow, job_id)


def evidence_by_export(s: Session, case_id: int, job_id: str) -> CaseEvidence | None:
    q = select(CaseEvidence).where(and_(CaseEvidence.case_id == case_id, CaseEvidence.export_id == job_id))
    return s.scalar(q)


# --- whose a case may be --------------------------------------------------------------------------------
def camera_owners(s: Session, camera_id: int) -> set[int]:
    """The organisations owning a group the camera is in (none: a site camera)."""
    q = (select(CameraGroup.organisation_id).join(CameraGroupMember, CameraGroupMember.group_id == CameraGroup.id)
         .where(CameraGroupMember.camera_id == camera_id, CameraGroup.organisation_id.is_not(None)))  # fmt: skip
    return {int(o) for o in s.scalars(q) if o is not None}


def camera_shared_with(s: Session, camera_id: int) -> set[int]:
    """The organisations a group holding the camera is shared with."""
    q = (select(CameraShare.organisation_id).join(CameraGroupMember,
                                                  CameraGroupMember.group_id == CameraShare.camera_group_id)
         .where(CameraGroupMember.camera_id == camera_id))  # fmt: skip
    return {int(o) for o in s.scalars(q)}


def organisation_exists(s: Session, organisation_id: int) -> bool:
    return s.get(Organisation, organisation_id) is not None


def evidence(s: Session, case_id: int, evidence_id: int) -> CaseEvidence | None:
    row = s.get(CaseEvidence, evidence_id)
    return row if row is not None and row.case_id == case_id else None
