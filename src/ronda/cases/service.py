"""Cases and fines (docs/cases.md): a case file made from events, an alarm or a bookmark; its status flow,
its notes and fine, and its signed evidence packages (the existing export, referencing the case number).

Rights: the ``cases`` right on every camera of the case, and the organisation scope: a case belongs to
the organisation of the user who opened it (none: the site's); a user of an organisation sees only its
organisation's cases, a site-scope user sees every organisation's. A case the caller may not see does not
exist for it (NotFound); one it sees without the right is Forbidden. Every change writes its audit entry,
with what changed before and after, in the change's own transaction.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ronda.access.audit import AuditLog
from ronda.access.rights import CASES, EXPORT
from ronda.access.service import Principal
from ronda.analytics.pipeline import IMAGE_NAME
from ronda.analytics.service import image_path
from ronda.cases import repository as repo
from ronda.cases.report import ReportInput
from ronda.errors import Conflict, Forbidden, Invalid, NotFound
from ronda.media import evidence, export_access
from ronda.media.export_jobs import ExportJobs
from ronda.store import repos
from ronda.store.case_models import Case, CaseEvidence, CaseLink, CaseNote, CaseSnapshot
from ronda.store.db import Database
from ronda.store.models import Event
from ronda.timeutil import now_ms, parse_iso, to_iso

log = logging.getLogger(__name__)
TYPES = ("dumping", "graffiti", "vandalism", "incident", "other")
STATUSES = ("draft", "under_review", "fine_issued", "dismissed", "closed")
# The status flow: a fine is issued or the case dismissed only after review; both end closed.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("under_review",),
    "under_review": ("draft", "fine_issued", "dismissed"),
    "fine_issued": ("closed",),
    "dismissed": ("closed",),
    "closed": (),
}
PRE_MS = 60_000  # footage before the first event the evidence covers
POST_MS = 60_000  # and after the last
MAX_WINDOW_MS = 24 * 3600 * 1000  # an export's limit
MAX_CAMERAS = 16
MAX_SOURCES = 100
MAX_LIST = 200
MAX_CENTS = 9_999_999_999  # 99,999,999.99
SNAPSHOT_ROOT = PurePosixPath("analytics/snapshots")
_PLATE = re.compile(r"[^A-Z0-9]")
# What the first event's type says the case is about (anything else: an incident).
_TYPE_OF_EVENT = (("dumping.", "dumping"), ("graffiti.", "graffiti"), ("vandalism.", "vandalism"),
                  ("damage.", "vandalism"))  # fmt: skip


# --- small helpers ----------------------------------------------------------------------------------------
def _iso(ms: int) -> str:
    return to_iso(ms) or ""


def normalise_plate(text: str) -> str:
    """Letters and digits only, upper case (``"ab 123-cd"`` → ``"AB123CD"``), at most 16."""
    return _PLATE.sub("", unicodedata.normalize("NFKC", text).upper())[:16]


def amount_text(cents: int | None) -> str | None:
    return None if cents is None else f"{cents // 100}.{cents % 100:02d}"


def to_cents(amount: Decimal) -> int:
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise Invalid("fine_amount: a non-negative amount with at most two decimals")
    cents = int(amount * 100)
    if cents > MAX_CENTS:
        raise Invalid("fine_amount: at most 99999999.99")
    return cents


def type_of(event_type: str) -> str:
    return next((t for prefix, t in _TYPE_OF_EVENT if event_type.startswith(prefix)), "incident")


def number_of(year: int, seq: int) -> str:
    return f"{year}-{seq:06d}"


# --- who sees what --------------------------------------------------------------------------------------
def _case_cameras(s: Session, caller: Principal) -> set[int]:
    """The cameras where the caller holds ``cases`` now."""
    return {c.id for c in repos.list_cameras(s, include_deleted=True) if caller.can(CASES, c.id)}


def _require_camera(caller: Principal, camera_id: int, right: str = CASES) -> None:
    if not caller.visible([camera_id]):
        raise NotFound()
    if not caller.can(right, camera_id):
        raise Forbidden(f"the '{right}' right on camera {camera_id} is needed")


def _load(s: Session, caller: Principal, case_id: int) -> tuple[Case, list[int]]:
    """The case and its cameras, for a caller that may work on it."""
    case = repo.get_case(s, case_id)
    if case is None or not caller.in_scope(case.organisation_id):
        raise NotFound("case")
    cameras = repo.cameras_of(s, case.id)
    if len(caller.visible(cameras)) != len(cameras):
        raise NotFound("case")
    if not all(caller.can(CASES, c) for c in cameras):
        raise Forbidden("the 'cases' right on every camera of the case is needed")
    return case, cameras


def _changeable(case: Case) -> None:
    if case.status == "closed":
        raise Conflict(f"case {case.number} is closed")


# --- views ----------------------------------------------------------------------------------------------
def summary(case: Case, cameras: Sequence[int]) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "type": case.type,
        "title": case.title,
        "status": case.status,
        "camera": case.camera_id,
        "cameras": list(cameras),
        "offence_time": _iso(case.offence_ms),
        "plate": case.plate,
        "fine_reference": case.fine_reference,
        "fine_amount": amount_text(case.fine_cents),
        "currency": case.currency,
        "organisation_id": case.organisation_id,
        "created_by": case.created_by,
        "created": _iso(case.created_ms),
        "updated_by": case.updated_by,
        "updated": _iso(case.updated_ms),
    }


def evidence_view(e: CaseEvidence) -> dict[str, Any]:
    return {
        "id": e.id,
        "export_id": e.export_id,
        "name": e.name,
        "status": e.status,
        "error": e.error,
        "sha256": e.sha256,
        "bytes": e.bytes,
        "files": list(e.files or []),
        "key_fingerprint": e.key_fingerprint,
        "cameras": list(e.cameras),
        "start": _iso(e.start_ms),
        "end": _iso(e.end_ms),
        "added_by": e.added_by,
        "added": _iso(e.added_ms),
        "finished": to_iso(e.finished_ms),
        "download": f"/api/v1/exports/{e.export_id}/download" if e.status == "done" else None,
        # any worker of the case takes the package here (the export's own download is its owner's)
        "link": f"/api/v1/cases/{e.case_id}/evidence/{e.id}/link" if e.status == "done" else None,
    }


def _image_names(payload: Any) -> list[str]:
    """The extra images (before, after...) an event's payload names."""
    named = payload.get("images") if isinstance(payload, dict) else None
    return sorted(n for n in named if isinstance(n, str) and IMAGE_NAME.match(n)) if isinstance(named, list) else []


def snapshot_views(s: Session, case_id: int) -> list[dict[str, Any]]:
    """The case's pictures: per event, its snapshot and the extra images its payload names (served by the
    events API, which the client fetches them from)."""
    shots = repo.snapshots_of(s, case_id)
    payloads = {e.id: e.payload for e in repo.events(s, [p.event_id for p in shots if p.event_id is not None])}
    return [
        {"id": p.id, "camera": p.camera_id, "time": _iso(p.time_ms), "event": p.event_id,
         "images": _image_names(payloads.get(p.event_id)) if p.event_id is not None else [],
         "url": f"/api/v1/events/{p.event_id}/snapshot.jpg" if p.event_id is not None else None}
        for p in shots
    ]  # fmt: skip


def detail(s: Session, case: Case, cameras: Sequence[int]) -> dict[str, Any]:
    cid = case.id
    return {
        **summary(case, cameras),
        "position": {"x": case.map_x, "y": case.map_y, "lat": case.lat, "lon": case.lon},
        "window": {"start": _iso(case.window_start_ms), "end": _iso(case.window_end_ms)},
        "offender": case.offender,
        "next_statuses": list(TRANSITIONS[case.status]),
        "links": [
            {"kind": k.kind, "id": k.ref_id, "time": to_iso(k.time_ms), "label": k.label} for k in repo.links_of(s, cid)
        ],  # fmt: skip
        "notes": [
            {"id": n.id, "time": _iso(n.time_ms), "author": n.author, "text": n.text} for n in repo.notes_of(s, cid)
        ],  # fmt: skip
        "evidence": [evidence_view(e) for e in repo.evidence_of(s, cid)],
        "snapshots": snapshot_views(s, cid),
    }


# --- reading --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Listed:
    items: list[dict[str, Any]]
    total: int


def search(db: Database, caller: Principal, f: repo.Filters, limit: int, offset: int) -> Listed:
    """The cases the caller may see that match ``f``, newest offence first."""
    if f.start_ms is not None and f.end_ms is not None and f.end_ms <= f.start_ms:
        raise Invalid("end must be after start")
    if f.camera is not None:
        _require_camera(caller, f.camera)
    with db.session() as s:
        if f.camera is not None and repos.get_camera(s, f.camera, include_deleted=True) is None:
            raise NotFound()
        allowed = _case_cameras(s, caller)
        if not allowed:
            raise Forbidden("the 'cases' right on some camera is needed")
        org: int | None | bool = True if caller.site_scope else caller.organisation_id
        rows, total = repo.search(s, org, allowed, f, limit, offset)
        return Listed([summary(c, repo.cameras_of(s, c.id)) for c in rows], total)


def get(db: Database, caller: Principal, case_id: int) -> dict[str, Any]:
    with db.session() as s:
        case, cameras = _load(s, caller, case_id)
        return detail(s, case, cameras)


# --- making a case ---------------------------------------------------------------------------------------
@dataclass
class NewCase:
    events: list[int]
    alarm: int | None = None
    bookmark: int | None = None
    type: str | None = None
    title: str | None = None
    plate: str | None = None
    offender: str = ""
    note: str = ""
    # whose case it is, when ``organisation_given`` (None: the site's); otherwise the opener's organisation
    # (a site-scope opener's: the organisation owning the main camera)
    organisation: int | None = None
    organisation_given: bool = False


@dataclass
class _Sources:
    events: list[Event]
    links: list[CaseLink]
    cameras: list[int]
    times: list[int]
    title: str | None
    first_type: str | None


def _gather(s: Session, caller: Principal, req: NewCase) -> _Sources:
    ids = list(dict.fromkeys(req.events))
    links: list[CaseLink] = []
    title: str | None = None
    if req.alarm is not None:
        alarm = repo.alarm(s, req.alarm)
        if alarm is None or alarm.camera_id is None or not caller.visible([alarm.camera_id]):
            raise NotFound("alarm")
        links.append(CaseLink(kind="alarm", ref_id=alarm.id, time_ms=alarm.first_event_ms, label=alarm.title[:200]))
        title = alarm.title
        ids += [i for i in repo.alarm_event_ids(s, alarm.id) if i not in ids]
    events = repo.events(s, ids[:MAX_SOURCES])
    found = {e.id for e in events}
    for i in req.events:
        if i not in found:
            raise NotFound("event", f"event {i} not found")
    cameras: list[int] = []
    times: list[int] = []
    for e in events:
        if e.camera_id is None:
            raise Invalid(f"event {e.id} has no camera: a case needs the camera that saw the offence")
        if not caller.visible([e.camera_id]):
            raise NotFound("event", f"event {e.id} not found")
        cameras.append(e.camera_id)
        times.append(e.time_ms)
        links.append(CaseLink(kind="event", ref_id=e.id, time_ms=e.time_ms, label=e.type[:200]))
    if req.bookmark is not None:
        b = repo.bookmark(s, req.bookmark)
        if b is None or not caller.visible([b.camera_id]):
            raise NotFound("bookmark")
        cameras.append(b.camera_id)
        times += [b.start_ms, b.end_ms]
        links.append(CaseLink(kind="bookmark", ref_id=b.id, time_ms=b.start_ms, label=b.title[:200]))
        title = title or b.title
    if not links:
        raise Invalid("name at least one event, an alarm or a bookmark")
    if not cameras:
        raise Invalid("the alarm has no events with a camera")
    cameras = list(dict.fromkeys(cameras))
    if len(cameras) > MAX_CAMERAS:
        raise Invalid(f"a case covers at most {MAX_CAMERAS} cameras")
    for c in cameras:
        _require_camera(caller, c)
    return _Sources(events, links, cameras, times, title, events[0].type if events else None)


def _images_on_disk(data_dir: Path, rel: str) -> list[str]:
    """The extra images stored next to a snapshot (for an event that has expired since: its payload, which
    named them, is gone; the files stay)."""
    stem = PurePosixPath(rel).name.removesuffix(".jpg")
    folder = data_dir / PurePosixPath(rel).parent
    try:
        found = [p.name[len(stem) + 1 : -4] for p in folder.glob(f"{stem}.*.jpg")]
    except OSError:
        return []
    return sorted(n for n in found if IMAGE_NAME.match(n))[:4]


def _snapshots(data_dir: Path, events: Sequence[Event]) -> list[CaseSnapshot]:
    """The events' analytics snapshots (an event posted from outside may name any path: only files under
    ``DATA/analytics/snapshots`` are taken)."""
    out: list[CaseSnapshot] = []
    root = (data_dir / SNAPSHOT_ROOT).resolve()
    for e in events:
        if not e.snapshot or e.camera_id is None:
            continue
        path = (data_dir / e.snapshot).resolve()
        if path.suffix.lower() == ".jpg" and path.is_relative_to(root) and path.is_file():
            out.append(CaseSnapshot(camera_id=e.camera_id, time_ms=e.time_ms, event_id=e.id,
                                    path=path.relative_to(data_dir.resolve()).as_posix()))  # fmt: skip
    return out[:20]


def _organisation(s: Session, caller: Principal, req: NewCase, cameras: Sequence[int]) -> int | None:
    """Whose the new case is. An organisation's user opens its organisation's cases only; a site-scope user
    names the organisation (or None: the site), by default the one owning the main camera; the organisation
    named must own or be shared every camera of the case, or the case would be nobody's to work on."""
    if not req.organisation_given:
        if not caller.site_scope:
            return caller.organisation_id
        owners = repo.camera_owners(s, cameras[0])
        return next(iter(owners)) if len(owners) == 1 else None
    org = req.organisation
    if not caller.site_scope:
        if org != caller.organisation_id:
            raise Forbidden("an organisation's user opens cases of its own organisation only")
        return org
    if org is None:
        return None
    if not repo.organisation_exists(s, org):
        raise Invalid(f"organisation_id: organisation {org} does not exist")
    for c in cameras:
        if org not in repo.camera_owners(s, c) | repo.camera_shared_with(s, c):
            raise Invalid(f"organisation_id: organisation {org} neither owns nor is shared camera {c}")
    return org


def create(db: Database, audit: AuditLog, data_dir: Path, caller: Principal, req: NewCase) -> dict[str, Any]:
    """A new draft case from events, an alarm or a bookmark: cameras, time, snapshot and type from the first
    event (the caller's ``type`` and ``title`` win), the evidence window around all of them."""
    if req.type is not None and req.type not in TYPES:
        raise Invalid(f"type must be one of {', '.join(TYPES)}")
    if len(req.events) > MAX_SOURCES:
        raise Invalid(f"at most {MAX_SOURCES} events")
    for attempt in range(5):
        try:
            return _create_once(db, audit, data_dir, caller, req)
        except IntegrityError:  # two cases took the same number at once: take the next one
            if attempt == 4:
                raise Conflict("could not number the case: try again") from None
    raise AssertionError("unreachable")


def _create_once(db: Database, audit: AuditLog, data_dir: Path, caller: Principal, req: NewCase) -> dict[str, Any]:
    with db.session() as s:
        src = _gather(s, caller, req)
        offence = src.events[0].time_ms if src.events else min(src.times)
        start, end = min(src.times) - PRE_MS, max(src.times) + POST_MS
        if end - start > MAX_WINDOW_MS:
            raise Invalid("the events of a case lie at most 24 hours apart (one evidence export)")
        organisation = _organisation(s, caller, req, src.cameras)
        kind = req.type or (type_of(src.first_type) if src.first_type else "incident")
        main = src.cameras[0]
        cam = repos.get_camera(s, main, include_deleted=True)
        title = (req.title or src.title or f"{kind.capitalize()}: {cam.name if cam else main}")[:200]
        plate = req.plate
        if plate is None and src.events:
            payload_plate = (src.events[0].payload or {}).get("plate")
            plate = payload_plate if isinstance(payload_plate, str) else ""
        pos = repo.map_position(s, main)
        t = now_ms()
        year = datetime.fromtimestamp(t / 1000, tz=UTC).year
        seq = repo.next_seq(s, year)
        case = Case(number=number_of(year, seq), year=year, seq=seq, type=kind, title=title, status="draft",
                    camera_id=main, map_x=pos.x if pos else None, map_y=pos.y if pos else None,
                    lat=pos.lat if pos else None, lon=pos.lon if pos else None, offence_ms=offence,
                    window_start_ms=start, window_end_ms=end, plate=normalise_plate(plate or ""),
                    offender=req.offender, fine_reference="", fine_cents=None, currency="EUR",
                    organisation_id=organisation, created_by=caller.actor, created_ms=t,
                    updated_by=caller.actor, updated_ms=t)  # fmt: skip
        repo.add_case(s, case, src.cameras, src.links, _snapshots(data_dir, src.events))
        if req.note:
            repo.add_note(s, CaseNote(case_id=case.id, time_ms=t, author=caller.actor, text=req.note))
        view = detail(s, case, src.cameras)
        after = {k: view[k] for k in ("number", "type", "title", "status", "cameras", "offence_time", "plate",
                                      "organisation_id")}  # fmt: skip
        audit.record(s, caller.actor, "case.create", "ok", main, start, end, caller.source_ip,
                     {"case": case.id, "number": case.number, "after": after,
                      "from": [{"kind": k.kind, "id": k.ref_id} for k in src.links][:20]})  # fmt: skip
        return view


# --- changing a case ----------------------------------------------------------------------------------------
EDITABLE = ("title", "type", "plate", "offender", "fine_reference", "fine_amount")
FINE_FIELDS = ("fine_reference", "fine_amount")


def _audit(audit: AuditLog, s: Session, caller: Principal, action: str, case: Case, details: dict[str, Any]) -> None:
    audit.record(s, caller.actor, action, "ok", case.camera_id, case.window_start_ms, case.window_end_ms,
                 caller.source_ip, {"case": case.id, "number": case.number, **details})  # fmt: skip


def _touch(case: Case, caller: Principal) -> None:
    case.updated_by, case.updated_ms = caller.actor, now_ms()


def update(db: Database, audit: AuditLog, caller: Principal, case_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change the fields in ``changes`` (of ``EDITABLE``; ``fine_amount`` a Decimal or None)."""
    if not changes:
        raise Invalid(f"nothing to change: send one of {', '.join(EDITABLE)}")
    if "type" in changes and changes["type"] not in TYPES:
        raise Invalid(f"type must be one of {', '.join(TYPES)}")
    for f in ("title", "type"):
        if f in changes and changes[f] is None:
            raise Invalid(f"{f} may not be null")
    with db.session() as s:
        case, cameras = _load(s, caller, case_id)
        _changeable(case)
        if any(f in changes for f in FINE_FIELDS) and case.status not in ("draft", "under_review"):
            raise Conflict(f"the fine of a case that is {case.status} cannot change")
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for f, value in sorted(changes.items()):
            if f == "fine_amount":
                old, new = amount_text(case.fine_cents), value
                case.fine_cents = None if value is None else to_cents(value)
                new = amount_text(case.fine_cents)
            elif f == "plate":
                old, new = case.plate, normalise_plate(value or "")
                case.plate = new
            else:
                old, new = getattr(case, f), value if value is not None else ""
                setattr(case, f, new)
            if old != new:
                before[f], after[f] = old, new
        if after:
            _touch(case, caller)
            s.flush()
            _audit(audit, s, caller, "case.update", case, {"before": before, "after": after})
        return detail(s, case, cameras)


def set_status(db: Database, audit: AuditLog, caller: Principal, case_id: int, status: str,
               text: str) -> dict[str, Any]:  # fmt: skip
    """Move the case along its flow (409 for a step the flow does not allow); ``text``, the reason (needed to
    dismiss), becomes a note."""
    if status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}")
    with db.session() as s:
        case, cameras = _load(s, caller, case_id)
        if status not in TRANSITIONS[case.status]:
            allowed = ", ".join(TRANSITIONS[case.status]) or "nothing"
            raise Conflict(f"a case that is {case.status} cannot become {status} (it can become: {allowed})")
        if status == "fine_issued" and (not case.fine_reference or case.fine_cents is None):
            raise Conflict("a fine is issued with its reference and amount: fill them in first")
        if status == "dismissed" and not text.strip():
            raise Invalid("say why the case is dismissed (text)")
        before = case.status
        case.status = status
        _touch(case, caller)
        if text.strip():
            repo.add_note(s, CaseNote(case_id=case.id, time_ms=case.updated_ms, author=caller.actor,
                                      text=f"[{before} → {status}] {text.strip()}"))  # fmt: skip
        s.flush()
        _audit(audit, s, caller, "case.status", case, {"before": {"status": before}, "after": {"status": status},
                                                         "text": text[:500]})  # fmt: skip
        return detail(s, case, cameras)


def add_note(db: Database, audit: AuditLog, caller: Principal, case_id: int, text: str) -> dict[str, Any]:
    if not text.strip():
        raise Invalid("a note needs text")
    with db.session() as s:
        case, cameras = _load(s, caller, case_id)
        note = repo.add_note(s, CaseNote(case_id=case.id, time_ms=now_ms(), author=caller.actor, text=text))
        _touch(case, caller)
        s.flush()
        _audit(audit, s, caller, "case.note", case, {"note": note.id, "after": {"text": text[:500]}})
        return detail(s, case, cameras)


# --- evidence -----------------------------------------------------------------------------------------------
async def add_evidence(db: Database, audit: AuditLog, jobs: ExportJobs, caller: Principal, case_id: int,
                       export_id: str | None, stream: str) -> dict[str, Any]:  # fmt: skip
    """Start a signed export of the case's cameras over its window, referencing the case number, or attach
    one (``export_id``) the caller made for this case; its hashes are recorded when it is done."""
    with db.session() as s:
        case, cameras = _load(s, caller, case_id)
        _changeable(case)
        number, start, end = case.number, case.window_start_ms, case.window_end_ms
    for c in cameras:
        if not caller.can(EXPORT, c):
            raise Forbidden(f"the 'export' right on camera {c} is needed for the case's evidence")
    if export_id is not None:
        job = export_access.get(jobs, db, caller, export_id)
        if job.get("status") in ("failed", "cancelled", "expired"):
            raise Conflict(f"the export is {job['status']}")
        with db.session() as s:
            row = repo.export_job(s, export_id)
            if row is None or row.case_ref != number:
                raise Invalid(f"the export does not reference case {number} (export it with --case {number})")
    else:
        job = await export_access.start(jobs, db, caller, cameras, _iso(start), _iso(end),
                                        f"evidence of case {number}", number, stream, f"case-{number}")  # fmt: skip
    with db.session() as s:
        case, _ = _load(s, caller, case_id)
        if repo.evidence_by_export(s, case.id, job["id"]) is not None:
            raise Conflict("this export is attached to the case already")
        added = repo.add_evidence(s, CaseEvidence(
            case_id=case.id, export_id=job["id"], name=job["name"], status="pending", cameras=list(job["cameras"]),
            start_ms=parse_iso(job["start"]), end_ms=parse_iso(job["end"]), added_by=caller.actor,
            added_ms=now_ms()))  # fmt: skip
        _touch(case, caller)
        s.flush()
        _audit(audit, s, caller, "case.evidence", case, {"after": {"export": job["id"], "name": job["name"]}})
        view = evidence_view(added)
    await asyncio.to_thread(settle, db, audit, jobs, case_id)  # an export that has ended already
    _watch(db, audit, jobs, case_id, job["id"])  # one still running (settling twice changes nothing)
    return view


# The watchers of packages being made (a reference keeps a task alive until it ends).
_WATCHING: set[asyncio.Task[None]] = set()
WATCH_INTERVAL_S = 0.5


def _watch(db: Database, audit: AuditLog, jobs: ExportJobs, case_id: int, job_id: str) -> None:
    """Record the package's hashes as soon as its export ends, not when someone next reads the case: what
    the report lists is the file as the export wrote it. (Should Ronda stop meanwhile, the next read of the
    case settles it, as before.)"""
    task = asyncio.get_running_loop().create_task(_settle_when_done(db, audit, jobs, case_id, job_id),
                                                  name=f"case-{case_id}-evidence-{job_id}")  # fmt: skip
    _WATCHING.add(task)
    task.add_done_callback(_WATCHING.discard)


def _running(db: Database, job_id: str) -> bool:
    with db.session() as s:
        row = repo.export_job(s, job_id)
        return row is not None and row.status == "running"


async def _settle_when_done(db: Database, audit: AuditLog, jobs: ExportJobs, case_id: int, job_id: str) -> None:
    try:
        # the export's row says when it ended (ExportJobs offers no event to wait on; the row is its truth)
        while await asyncio.to_thread(_running, db, job_id):  # noqa: ASYNC110
            await asyncio.sleep(WATCH_INTERVAL_S)
        await asyncio.to_thread(settle, db, audit, jobs, case_id)
    except asyncio.CancelledError:
        raise
    except Exception:  # the next read of the case settles it
        log.exception("case %s: recording the package of export %s failed", case_id, job_id)


def settle(db: Database, audit: AuditLog, jobs: ExportJobs, case_id: int) -> int:
    """Record the outcome of the case's packages whose export has ended: the package's SHA-256, the
    manifest's per-file hashes and the signing key's fingerprint, after checking the package as ``ronda
    verify`` does. Returns how many were settled. Blocking (it reads the packages)."""
    with db.session() as s:
        pending = [(e.id, e.export_id) for e in repo.evidence_of(s, case_id) if e.status == "pending"]
    n = 0
    for evidence_id, job_id in pending:
        with db.session() as s:
            job = repo.export_job(s, job_id)
            status, error = (job.status, job.error) if job is not None else ("deleted", None)
        if status == "running":
            continue
        values: dict[str, Any] = {"finished_ms": now_ms()}
        path = jobs.path(job_id)
        if status == "done" and path.is_file():
            outcome = evidence.verify_package(path)
            if outcome.ok and outcome.manifest is not None:
                values |= {"status": "done", "sha256": evidence.sha256_file(path), "bytes": path.stat().st_size,
                           "key_fingerprint": outcome.fingerprint,
                           "files": [{"name": f["name"], "sha256": f["sha256"], "bytes": f.get("bytes")}
                                     for f in outcome.manifest.get("files", [])]}  # fmt: skip
            else:
                values |= {"status": "failed", "error": "; ".join(outcome.problems)[:500]}
        else:
            values |= {"status": "failed", "error": (error or f"the export is {status}")[:500]}
        with db.session() as s:
            if repo.settle_evidence(s, evidence_id, **values):
                case = repo.get_case(s, case_id)
                assert case is not None
                audit.record(s, "system:cases", "case.evidence_ready" if values["status"] == "done" else
                             "case.evidence_failed", "ok", case.camera_id, case.window_start_ms, case.window_end_ms,
                             None, {"case": case.id, "number": case.number, "export": job_id,
                                    "sha256": values.get("sha256"), "error": values.get("error")})  # fmt: skip
                n += 1
    return n


def file_state(jobs: ExportJobs, e: CaseEvidence | dict[str, Any]) -> str:
    """How the server's copy of a signed package compares with the hash recorded when it was made:
    ``intact``, ``changed`` or ``gone`` (expired, deleted); ``none`` for a package that is not signed.
    Blocking (it reads the package)."""
    status, sha, export_id = ((e.status, e.sha256, e.export_id) if isinstance(e, CaseEvidence)
                              else (e["status"], e["sha256"], e["export_id"]))  # fmt: skip
    if status != "done" or not sha:
        return "none"
    path = jobs.path(export_id)
    try:
        return "intact" if evidence.sha256_file(path) == sha else "changed"
    except OSError:  # deleted when it expired (or unreadable: as good as gone)
        return "gone"


@dataclass(frozen=True)
class EvidenceFile:
    """A case's signed package, for one of the case's workers to download."""

    path: Path
    name: str
    export_id: str
    number: str
    camera: int
    start_ms: int
    end_ms: int


def evidence_file(db: Database, jobs: ExportJobs, caller: Principal, case_id: int, evidence_id: int) -> EvidenceFile:
    """The package of the case's evidence ``evidence_id``, for a caller who may work on the case (the
    ``cases`` right on its cameras, its organisation's): not only the export's owner. Only a package that
    is still the file the case recorded (409 otherwise: not signed yet, failed, expired or changed).
    Blocking (it reads the package to check it)."""
    with db.session() as s:
        case, _ = _load(s, caller, case_id)
        e = repo.evidence(s, case.id, evidence_id)
        if e is None:
            raise NotFound("evidence")
        s.expunge(e)
        number, camera = case.number, case.camera_id
    if e.status != "done":
        raise Conflict(f"the package is {e.status}" + (" (not signed yet)" if e.status == "pending" else ""))
    state = file_state(jobs, e)
    if state == "gone":
        raise Conflict("the package is no longer on the server (it expired): the case keeps its hashes")
    if state == "changed":
        raise Conflict("the package file on the server has changed since it was signed: it is not handed out")
    return EvidenceFile(jobs.path(e.export_id), e.name, e.export_id, number, camera, e.start_ms, e.end_ms)


def case_camera(db: Database, case_id: int) -> int:
    """The main camera of a case (a download link's token is bound to it); NotFound for no such case."""
    with db.session() as s:
        case = repo.get_case(s, case_id)
        if case is None:
            raise NotFound("case")
        return case.camera_id


# --- the report ---------------------------------------------------------------------------------------------
def report_input(db: Database, audit: AuditLog, jobs: ExportJobs, caller: Principal, case_id: int, site: str,
                 timezone: str, data_dir: Path) -> ReportInput:  # fmt: skip
    """What the printable report shows (packages that have just finished are settled first): the pictures
    themselves (to embed: the printout stands alone), and whether each package's file is still the one whose
    hash the case recorded."""
    get(db, caller, case_id)  # rights before any work
    settle(db, audit, jobs, case_id)
    with db.session() as s:
        case, cameras = _load(s, caller, case_id)
        view = detail(s, case, cameras)
        names = {c.id: c.name for c in repos.list_cameras(s, include_deleted=True)}
        shots = [(p.camera_id, p.time_ms, p.path, v["images"])
                 for p, v in zip(repo.snapshots_of(s, case.id), view["snapshots"], strict=True)]  # fmt: skip
    view["evidence"] = [{**e, "file": file_state(jobs, e)} for e in view["evidence"]]
    pictures: list[tuple[str, bytes]] = []
    for camera, time_ms, rel, images in shots:
        caption = f"{names.get(camera, camera)}, {_iso(time_ms)}"
        for name in ["", *(images or _images_on_disk(data_dir, rel))]:
            path = data_dir / (image_path(rel, name) if name else rel)
            if path.is_file():
                pictures.append((f"{caption} ({name})" if name else caption, path.read_bytes()))
    key = evidence.load_site_key(data_dir / "keys" / evidence.SITE_KEY_FILE)
    return ReportInput(case=view, site=site, timezone=timezone, camera_names=names, printed_by=caller.actor,
                       site_fingerprint=evidence.fingerprint(key.public_key()), printed_ms=now_ms(),
                       snapshots=pictures)  # fmt: skip
