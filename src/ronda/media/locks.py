"""Evidence locks: footage of one camera kept past its retention (docs/evidence.md). Each lock and
each lifting writes its audit entry in its own transaction (``AuditLog.record``)."""

from __future__ import annotations

from typing import Any

from ronda.access.audit import AuditLog
from ronda.access.rights import EVIDENCE_LOCK, MANAGE_CAMERAS
from ronda.access.service import Principal
from ronda.config import StorageConfig
from ronda.errors import Forbidden, Invalid, NotFound
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import EvidenceLock
from ronda.timeutil import iso_param, now_ms, to_iso

DAY_MS = 86_400_000


def lock_view(lock: EvidenceLock) -> dict[str, Any]:
    return {"id": lock.id, "camera": lock.camera_id, "start": to_iso(lock.start_ms), "end": to_iso(lock.end_ms),
            "reason": lock.reason, "until": to_iso(lock.until_ms), "created_by": lock.created_by,
            "created": to_iso(lock.created_ms)}  # fmt: skip


def create(
    db: Database, audit: AuditLog, st: StorageConfig, caller: Principal, camera: int, start: str, end: str,
    reason: str, until: str | None,
) -> dict[str, Any]:  # fmt: skip
    """The new lock, audited (``evidence_lock`` on ``camera`` is the route's declared right). Bounded so
    one lock cannot hold a camera's whole store past the legal retention."""
    with db.session() as s:
        if repos.get_camera(s, camera) is None:  # a site-wide grant covers any id
            raise NotFound()
    s_ms, e_ms = iso_param(start, "start"), iso_param(end, "end")
    until_ms = iso_param(until, "until") if until else None
    now = now_ms()
    if e_ms <= s_ms:
        raise Invalid("end must be after start")
    if e_ms - s_ms > st.lock_max_range_days * DAY_MS:
        raise Invalid(f"a lock may cover at most {st.lock_max_range_days:g} days of footage")
    if e_ms > now + DAY_MS:
        raise Invalid("end may be at most one day ahead: footage that does not exist yet cannot be locked")
    if until_ms is None:
        until_ms = now + int(st.lock_default_keep_days * DAY_MS)
    if until_ms <= now:
        raise Invalid("until must be in the future")
    if until_ms > now + st.lock_max_keep_days * DAY_MS:
        raise Invalid(f"until may be at most {st.lock_max_keep_days:g} days ahead")
    with db.session() as s:
        lock = EvidenceLock(camera_id=camera, start_ms=s_ms, end_ms=e_ms, reason=reason, until_ms=until_ms,
                            created_by=caller.actor, created_ms=now_ms())  # fmt: skip
        s.add(lock)
        s.flush()
        audit.record(s, caller.actor, "evidence.lock", "ok", camera, s_ms, e_ms, caller.source_ip,
                     {"lock": lock.id, "reason": reason})  # fmt: skip
        return lock_view(lock)


def list_for(db: Database, caller: Principal) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = repos.all_locks(s)
        visible = caller.visible(sorted({r.camera_id for r in rows}))
        return [lock_view(r) for r in rows if r.camera_id in visible]


def delete(db: Database, audit: AuditLog, caller: Principal, lock_id: int) -> None:
    """Lift a lock, audited: whoever made it (still holding ``evidence_lock``), or a manager of the camera."""
    with db.session() as s:
        lock = s.get(EvidenceLock, lock_id)
        if lock is None or not caller.visible([lock.camera_id]):
            raise NotFound("evidence lock" if lock is None else "camera")
        mine = lock.created_by in (caller.username, f"{caller.username}(api-key)")
        if not (mine and caller.can(EVIDENCE_LOCK, lock.camera_id)) and not caller.can(MANAGE_CAMERAS, lock.camera_id):
            raise Forbidden("only the lock's creator or a manager of the camera may remove it")
        cam, start, end = lock.camera_id, lock.start_ms, lock.end_ms
        s.delete(lock)
        audit.record(s, caller.actor, "evidence.unlock", "ok", cam, start, end, caller.source_ip, {"lock": lock_id})
