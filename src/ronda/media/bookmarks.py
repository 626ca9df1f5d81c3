"""Bookmarks: a titled time range on one camera, with a note and its author.

Rights: reading needs ``playback`` on the camera; creating needs ``bookmark``; changing or deleting
needs to be the author (still holding ``bookmark``) or to hold ``manage_cameras`` on the camera
(administrators). A bookmark on a camera the caller may not see does not exist for it (NotFound).
Every change writes its audit entry in its own transaction (``AuditLog.record``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ronda.access.audit import AuditLog
from ronda.access.rights import BOOKMARK, MANAGE_CAMERAS, PLAYBACK
from ronda.access.service import Principal
from ronda.errors import Forbidden, Invalid, NotFound
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import Bookmark
from ronda.timeutil import iso_param, now_ms, to_iso

MAX_BOOKMARK_MS = 24 * 3600 * 1000
MAX_LIST = 1000
# Epoch-ms bounds of a bookmark: 1970 .. 2100 (anything else is a typo, not footage).
MIN_TIME_MS, MAX_TIME_MS = 0, 4_102_444_800_000


def bookmark_view(b: Bookmark) -> dict[str, Any]:
    return {
        "id": b.id,
        "camera": b.camera_id,
        "start": to_iso(b.start_ms),
        "end": to_iso(b.end_ms),
        "title": b.title,
        "note": b.note,
        "created_by": b.created_by,
        "created": to_iso(b.created_ms),
        "updated": to_iso(b.updated_ms),
    }


def _check_range(start: int, end: int) -> None:
    if end <= start:
        raise Invalid("end must be after start")
    if end - start > MAX_BOOKMARK_MS:
        raise Invalid("a bookmark may span at most 24 hours")
    if start < MIN_TIME_MS or end > MAX_TIME_MS:
        raise Invalid("bookmark times must lie between 1970 and 2100")


def _visible(caller: Principal, b: Bookmark | None) -> Bookmark:
    if b is None or not caller.visible([b.camera_id]):
        raise NotFound("bookmark")
    return b


def _may_change(caller: Principal, b: Bookmark) -> None:
    if caller.can(MANAGE_CAMERAS, b.camera_id):
        return
    # The author by username, whether it wrote through a session or one of its API keys.
    if b.created_by in (caller.username, f"{caller.username}(api-key)") and caller.can(BOOKMARK, b.camera_id):
        return
    raise Forbidden("only the bookmark's author (with the 'bookmark' right) or a camera manager may change it")


@dataclass(frozen=True)
class Listed:
    items: list[dict[str, Any]]
    truncated: bool


def create(
    db: Database, audit: AuditLog, caller: Principal, camera: int, start: str, end: str, title: str, note: str
) -> dict[str, Any]:
    """The new bookmark (``bookmark`` on ``camera`` is the route's declared right), audited."""
    s_ms, e_ms = iso_param(start, "start"), iso_param(end, "end")
    _check_range(s_ms, e_ms)
    with db.session() as s:
        if repos.get_camera(s, camera, include_deleted=True) is None:
            raise NotFound()
        row = Bookmark(camera_id=camera, start_ms=s_ms, end_ms=e_ms, title=title, note=note,
                       created_by=caller.actor, created_ms=now_ms())  # fmt: skip
        b = repos.add_bookmark(s, row)
        audit.record(s, caller.actor, "bookmark.create", "ok", camera, s_ms, e_ms, caller.source_ip,
                     {"bookmark": b.id, "title": title})  # fmt: skip
        return bookmark_view(b)


def search(
    db: Database, caller: Principal, camera: int | None, start: str | None, end: str | None, limit: int
) -> Listed:
    """Bookmarks overlapping ``[start, end)`` (either bound optional) on the cameras where the caller has
    ``playback`` (or on ``camera`` only), latest start first, at most ``limit``."""
    s_ms = iso_param(start, "start") if start is not None else None
    e_ms = iso_param(end, "end") if end is not None else None
    if s_ms is not None and e_ms is not None and e_ms <= s_ms:
        raise Invalid("end must be after start")
    if camera is not None:
        if not caller.visible([camera]):
            raise NotFound()
        if not caller.can(PLAYBACK, camera):
            raise Forbidden(f"the '{PLAYBACK}' right on this camera is needed")
    with db.session() as s:
        if camera is not None:
            if repos.get_camera(s, camera, include_deleted=True) is None:
                raise NotFound()
            ids: Sequence[int] = [camera]
        else:
            ids = [c.id for c in repos.list_cameras(s, include_deleted=True) if caller.can(PLAYBACK, c.id)]
        rows = repos.list_bookmarks(s, ids, s_ms, e_ms, limit + 1)
        return Listed([bookmark_view(b) for b in rows[:limit]], len(rows) > limit)


def get(db: Database, caller: Principal, bookmark_id: int) -> dict[str, Any]:
    with db.session() as s:
        b = _visible(caller, repos.get_bookmark(s, bookmark_id))
        if not caller.can(PLAYBACK, b.camera_id):
            raise Forbidden(f"the '{PLAYBACK}' right on this camera is needed")
        return bookmark_view(b)


def update(
    db: Database, audit: AuditLog, caller: Principal, bookmark_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change the fields in ``changes`` (start, end, title, note; none of them null), audited."""
    fields = sorted(changes)
    if not fields:
        raise Invalid("nothing to change: send start, end, title or note")
    for f in fields:
        if changes[f] is None:
            raise Invalid(f"{f} may not be null")
    new_start = iso_param(changes["start"], "start") if "start" in changes else None
    new_end = iso_param(changes["end"], "end") if "end" in changes else None
    with db.session() as s:
        b = _visible(caller, repos.get_bookmark(s, bookmark_id))
        _may_change(caller, b)
        start = new_start if new_start is not None else b.start_ms
        end = new_end if new_end is not None else b.end_ms
        _check_range(start, end)
        b.start_ms, b.end_ms = start, end
        if "title" in changes:
            b.title = changes["title"]
        if "note" in changes:
            b.note = changes["note"]
        b.updated_ms = now_ms()
        s.flush()
        audit.record(s, caller.actor, "bookmark.update", "ok", b.camera_id, b.start_ms, b.end_ms, caller.source_ip,
                     {"bookmark": bookmark_id, "fields": fields, "title": b.title})  # fmt: skip
        return bookmark_view(b)


def delete(db: Database, audit: AuditLog, caller: Principal, bookmark_id: int) -> None:
    """Delete, audited."""
    with db.session() as s:
        b = _visible(caller, repos.get_bookmark(s, bookmark_id))
        _may_change(caller, b)
        camera_id, start, end, title = b.camera_id, b.start_ms, b.end_ms, b.title
        s.delete(b)
        audit.record(s, caller.actor, "bookmark.delete", "ok", camera_id, start, end, caller.source_ip,
                     {"bookmark": bookmark_id, "title": title})  # fmt: skip
