"""Plate search and crops for a caller (docs/analytics.md, "Licence plates"; docs/access.md): only
cameras where the caller holds the ``plates`` right *and* that are inside its organisation's scope (a
site-scope user: every camera; a user of organisation B: the cameras B owns; a camera another
organisation shares with B shows B its video, not its plates). Every search is audited with its query,
whether it found anything or not."""

from __future__ import annotations

from pathlib import Path

from ronda.access.audit import AuditLog
from ronda.access.service import Principal
from ronda.analytics.plates import repository as repo
from ronda.analytics.plates.hotlist import PlateTextError, normalise_pattern, plate_key
from ronda.errors import Forbidden, Invalid, NotFound
from ronda.events.alarm_image import snapshot_file
from ronda.events.plate_privacy import may_read_plates
from ronda.store.db import Database

MAX_LIMIT = 1000


def may_read(caller: Principal, camera_id: int) -> bool:
    """The one rule for plates (``ronda.events.plate_privacy``), which the event outputs apply too."""
    return may_read_plates(caller, camera_id)


def plate_cameras(caller: Principal, known: list[int], asked: list[int] | None) -> list[int]:
    """The cameras a search covers. ``asked``: each must exist and be visible (else ``NotFound``) and
    readable (else ``Forbidden``); None: every camera the caller may read plates of (none: ``Forbidden``)."""
    if asked is None:
        cams = [c for c in sorted(known) if may_read(caller, c)]
        if not cams:
            raise Forbidden("the 'plates' right on a camera of your organisation is needed")
        return cams
    have = set(known)
    for c in asked:
        if c not in have or not caller.visible([c]):
            raise NotFound("camera")
        if not may_read(caller, c):
            raise Forbidden("the 'plates' right on this camera (of your organisation) is needed")
    return asked


def query_key(text: str | None) -> str | None:
    """A caller's plate text (full, partial, or a pattern with ``*``/``?``) → the folded key to search."""
    if text is None or not text.strip():
        return None
    try:
        return plate_key(normalise_pattern(text))
    except PlateTextError as e:
        raise Invalid(f"plate: {e}") from None


def search(db: Database, audit: AuditLog, caller: Principal, cameras: list[int], start_ms: int, end_ms: int,
           text: str | None, limit: int, after: int | None) -> list[repo.ReadRecord]:  # fmt: skip
    """The reads found, newest first; the search is audited (``plates.search``: the query, the cameras,
    the range as the entry's footage range, and how many reads were returned)."""
    key = query_key(text)
    with db.session() as s:
        found = repo.search_reads(s, cameras, start_ms, end_ms, key, max(1, min(limit, MAX_LIMIT)), after)
        details = {"plate": text.strip()[:32] if text else None, "key": key, "cameras": cameras[:64],
                   "camera_count": len(cameras), "limit": limit, "after": after, "results": len(found)}  # fmt: skip
        audit.record(s, caller.actor, "plates.search", "ok", cameras[0] if len(cameras) == 1 else None,
                     start_ms=start_ms, end_ms=end_ms, source_ip=caller.source_ip, details=details)  # fmt: skip
    return found


def read_for(db: Database, caller: Principal, read_id: int) -> repo.ReadRecord:
    """One read the caller may see (``NotFound`` for one it may not see at all)."""
    with db.session() as s:
        r = repo.get_read(s, read_id)
    if r is None or not caller.visible([r.camera_id]):
        raise NotFound("plate read")
    if not may_read(caller, r.camera_id):
        raise Forbidden("the 'plates' right on this camera (of your organisation) is needed")
    return r


def crop_for(db: Database, audit: AuditLog, caller: Principal, data_dir: Path, read_id: int) -> Path:
    """The crop file of a read the caller may read (``read_for``'s rules: 404, 403), audited like a
    search (``plates.crop``: the caller, the read's camera and time, the read and its event), since the
    crop shows the plate; ``NotFound`` when the read has no crop (not audited: nothing was shown)."""
    r = read_for(db, caller, read_id)
    path = crop_path(data_dir, r.crop)
    if path is None:
        raise NotFound("crop")
    audit.append(caller.actor, "plates.crop", "ok", r.camera_id, r.time_ms, r.time_ms, caller.source_ip,
                 details={"read": r.id, "event": r.event_id})  # fmt: skip
    return path


def crop_path(data_dir: Path, stored: str | None) -> Path | None:
    """A read's crop (a path relative to the data directory) if it is a file under ``DATA/analytics/``
    (the one check every stored analytics picture gets: ``events.alarm_image.snapshot_file``)."""
    return snapshot_file(data_dir, stored) if stored else None
