"""Who may see, cancel and take which export (docs/access.md): the rules around ``ExportJobs``.

One's own exports are one's own only while one may still export every camera in them; a ``view_audit``
holder oversees its scope's (every user's for the site, its organisation's users' otherwise); taking a
package needs the export right on every camera it holds, now.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ronda.access.rights import EXPORT, VIEW_AUDIT
from ronda.access.service import Principal
from ronda.errors import Conflict, Forbidden, Invalid, NotFound
from ronda.media.export import ExportError, ExportRequest, plan
from ronda.media.export_jobs import ExportJobs, JobNotFound, OwnerScope, Package
from ronda.store import repos
from ronda.store.db import Database
from ronda.timeutil import iso_param


def overseen(db: Database, caller: Principal) -> OwnerScope:
    """Whose exports the caller sees besides its own."""
    if not caller.has(VIEW_AUDIT):
        return False
    if caller.site_scope:
        return True
    with db.session() as s:
        return frozenset(repos.organisation_user_ids(s, caller.organisation_id))


def _readable(caller: Principal, job: dict[str, Any], admin: OwnerScope) -> bool:
    """One's own export stays one's own only while one may still export every camera in it (an API key
    without the export right, or a user who lost it, no longer sees it); an overseer sees its scope's."""
    if job.get("owner_id") != caller.user_id and admin:
        return True
    return all(caller.can(EXPORT, c) for c in job.get("cameras") or [])


async def start(
    jobs: ExportJobs, db: Database, caller: Principal, cameras: list[int], start: str, end: str, reason: str,
    case: str, stream: str, name: str | None,
) -> dict[str, Any]:  # fmt: skip
    """Start an export (``export`` on every camera is the route's declared right)."""
    req = ExportRequest(cameras, iso_param(start, "start"), iso_param(end, "end"), caller.actor, reason, case, stream)
    try:
        await asyncio.to_thread(plan, db, req)  # refuse at once what cannot be exported
    except ExportError as e:
        raise Invalid(str(e)) from None
    return await jobs.start(caller.user_id, caller.actor, caller.source_ip, req, name)


def list_for(jobs: ExportJobs, db: Database, caller: Principal) -> list[dict[str, Any]]:
    admin = overseen(db, caller)
    return [j for j in jobs.list(caller.user_id, admin) if _readable(caller, j, admin)]


def get(jobs: ExportJobs, db: Database, caller: Principal, job_id: str) -> dict[str, Any]:
    admin = overseen(db, caller)
    try:
        job = jobs.get(job_id, caller.user_id, admin)
    except JobNotFound:
        raise NotFound("export") from None
    if not _readable(caller, job, admin):
        raise NotFound("export")
    return job


async def cancel(jobs: ExportJobs, db: Database, caller: Principal, job_id: str) -> None:
    """Cancel a running export, or delete a finished one's package."""
    await asyncio.to_thread(get, jobs, db, caller, job_id)
    try:
        await jobs.cancel(job_id, caller.user_id, await asyncio.to_thread(overseen, db, caller))
    except JobNotFound:
        raise NotFound("export") from None


def finished(jobs: ExportJobs, db: Database, caller: Principal, job_id: str) -> Package:
    """The finished package, for a caller with the export right on every camera it holds now (its owner
    included: not only when the export was made)."""
    try:
        pkg = jobs.package(job_id, caller.user_id, overseen(db, caller))
    except JobNotFound:
        raise NotFound("export") from None
    except ValueError as e:
        raise Conflict(str(e)) from None
    for cid in pkg.cameras:
        if not caller.visible([cid]):
            raise NotFound("export")  # nothing said about a camera the caller may not see
        if not caller.can(EXPORT, cid):
            raise Forbidden("the 'export' right on every camera of this export is needed")
    return pkg


def token_camera(jobs: ExportJobs, job_id: str) -> int:
    """The camera a download token of the job is bound to; NotFound for an unknown job."""
    camera = jobs.owner_camera(job_id)
    if camera is None:
        raise NotFound("export")
    return camera
