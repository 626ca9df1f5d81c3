"""Redacting and deleting stored events: for whoever manages every camera of the event; an event without
camera (system, security) is the site's, a site administrator's (manage_cameras without an organisation),
as in the listing."""

from __future__ import annotations

from typing import Any

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


def redact(db: Database, caller: Principal, event_id: int) -> tuple[dict[str, Any], list[int], dict[str, Any]]:
    """Remove an event's payload, text and snapshot reference, keeping that it happened.
    ``(view before, cameras, view after)``."""
    view, cams = _load(db, caller, event_id)
    done = redact_event(db, event_id, f"redacted by {caller.actor} at {to_iso(now_ms())}")
    if done is None:
        raise NotFound("event")
    return view, cams, done[0]


def delete(db: Database, caller: Principal, event_id: int) -> tuple[dict[str, Any], list[int]]:
    """Delete one event (alarms it raised keep their own history). ``(view, cameras)`` of what it was."""
    view, cams = _load(db, caller, event_id)
    if not delete_event(db, event_id):
        raise NotFound("event")
    return view, cams
