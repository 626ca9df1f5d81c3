"""Redacting and deleting stored events: for whoever manages every camera of the event; an event without
camera (system, security) is the site's, a site administrator's (manage_cameras without an organisation),
as in the listing. Each change writes its audit entry, with the caller's reason, in its own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ronda.access.audit import AuditLog, InTransaction
from ronda.access.rights import MANAGE_CAMERAS
from ronda.access.service import Principal
from ronda.errors import Forbidden, NotFound
from ronda.events.store import delete_event, load_event, redact_event
from ronda.store.db import Database
from ronda.timeutil import now_ms, to_iso


def _may_manage(caller: Principal, cams: list[int]) -> None:
    """NotFound when the caller cannot see the event, Forbidden when it sees it but may not change it."""
    if not cams:
        if not (caller.site_scope and caller.has(MANAGE_CAMERAS)):
            raise NotFound("event")
        return
    if not caller.visible(cams):
        raise NotFound("event")
    for c in cams:
        if not caller.can(MANAGE_CAMERAS, c):
            raise Forbidden(f"the '{MANAGE_CAMERAS}' right on camera {c} is needed")


def _load(db: Database, caller: Principal, event_id: int) -> tuple[dict[str, Any], list[int]]:
    found = load_event(db, event_id)
    if found is None:
        raise NotFound("event")
    view, cams = found
    _may_manage(caller, cams)
    return view, cams


def _audited(audit: AuditLog, caller: Principal, action: str, view: dict[str, Any], cams: list[int],
             reason: str | None) -> InTransaction[Any]:  # fmt: skip
    """The entry of an event's redaction or deletion, written in the change's transaction."""

    def write(s: Session, _event: Any) -> None:
        audit.record(s, caller.actor, action, "ok", cams[0] if cams else None, source_ip=caller.source_ip,
                     details={"event": view["id"], "type": view["type"], "time": view["time"], "cameras": cams,
                              "reason": reason})  # fmt: skip

    return write


def redact(db: Database, audit: AuditLog, caller: Principal, event_id: int, reason: str) -> dict[str, Any]:
    """Remove an event's payload, text and snapshot reference, keeping that it happened; the event as
    it is now."""
    view, cams = _load(db, caller, event_id)
    note = f"redacted by {caller.actor} at {to_iso(now_ms())}"
    done = redact_event(db, event_id, note, _audited(audit, caller, "event.redact", view, cams, reason))
    if done is None:
        raise NotFound("event")
    return done[0]


def delete(db: Database, audit: AuditLog, caller: Principal, event_id: int, reason: str | None) -> None:
    """Delete one event (alarms it raised keep their own history)."""
    view, cams = _load(db, caller, event_id)
    if not delete_event(db, event_id, _audited(audit, caller, "event.delete", view, cams, reason)):
        raise NotFound("event")
