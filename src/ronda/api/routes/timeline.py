"""The timeline across cameras (runs, gaps, events, bookmarks, evidence locks) with the site's local
days, and the site's name and time zone.

Everything is fetched per camera with queries that walk the (camera, time) indexes; recorded runs are
merged in SQL (``repos.segment_runs``), so a 30-day zoom-out never moves single segments into Python.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy.orm import Session

from ronda.access.rights import PLAYBACK
from ronda.api.deps import Caller, Ctx, iso_param, not_found
from ronda.api.routes.bookmarks import bookmark_view
from ronda.events.store import event_view
from ronda.store import repos
from ronda.store.models import EvidenceLock, Gap
from ronda.timeutil import local_days, now_ms, to_iso, utc_offset_minutes, zone

router = APIRouter(tags=["timeline"])

MAX_RANGE_MS = 31 * 86_400_000
MAX_CAMERAS = 64
# Items per camera and list. Runs never exceed their cap: the resolution is raised to range / MAX_RUNS
# (runs are separated by holes longer than the resolution, so there cannot be more of them).
LIMITS: Mapping[str, int] = {"runs": 4000, "gaps": 1000, "events": 1000, "bookmarks": 1000, "locks": 500}


# --- shared with the per-camera timeline (cameras.py) ----------------------------------------------
def run_views(runs: Sequence[tuple[int, int, int]]) -> list[dict[str, Any]]:
    return [{"start": to_iso(a), "end": to_iso(b), "segments": n} for a, b, n in runs]


def gap_views(gaps: Sequence[Gap], now: int) -> list[dict[str, Any]]:
    return [
        {
            "start": to_iso(g.start_ms),
            "end": to_iso(g.end_ms if g.end_ms is not None else max(now, g.start_ms)),
            "reason": g.reason,
        }
        for g in gaps
    ]


def lock_views(locks: Sequence[EvidenceLock]) -> list[dict[str, Any]]:
    return [{"id": x.id, "start": to_iso(x.start_ms), "end": to_iso(x.end_ms), "reason": x.reason} for x in locks]


def camera_track(
    s: Session,
    camera_id: int,
    stream: str,
    start_ms: int,
    end_ms: int,
    merge_ms: int,
    now: int,
    limits: Mapping[str, int] | None = None,
) -> tuple[dict[str, list[dict[str, Any]]], set[str]]:
    """``{"runs", "gaps", "locks"}`` of one camera stream over ``[start, end)`` and the names of the lists
    cut at ``limits`` (none without limits). Runs merge segments closer than ``merge_ms``; only gaps at
    least ``merge_ms`` long are listed; locks are the active evidence locks overlapping the range."""
    cut: set[str] = set()

    def capped(name: str, rows: Sequence[Any]) -> Sequence[Any]:
        if limits is not None and len(rows) > limits[name]:
            cut.add(name)
            return rows[: limits[name]]
        return rows

    def fetch_limit(name: str) -> int | None:
        return None if limits is None else limits[name] + 1

    runs = repos.segment_runs(s, camera_id, stream, start_ms, end_ms, merge_ms)
    gaps = repos.timeline_gaps(s, camera_id, stream, start_ms, end_ms, merge_ms, now, fetch_limit("gaps"))
    locks = repos.locks_overlapping(s, camera_id, start_ms, end_ms, now, fetch_limit("locks"))
    track = {
        "runs": run_views(capped("runs", runs)),
        "gaps": gap_views(capped("gaps", gaps), now),
        "locks": lock_views(capped("locks", locks)),
    }
    return track, cut


def parse_range(start: str, end: str, max_ms: int = MAX_RANGE_MS) -> tuple[int, int]:
    s, e = iso_param(start, "start"), iso_param(end, "end")
    if e <= s:
        raise HTTPException(422, "end must be after start")
    if e - s > max_ms:
        raise HTTPException(422, "the range may be at most 31 days; ask for several ranges")
    return s, e


def parse_camera_list(text: str) -> list[int]:
    """``"1,2,3"`` → ``[1, 2, 3]`` (duplicates dropped, order kept); 422 on anything else."""
    ids: list[int] = []
    for part in text.split(","):
        p = part.strip()
        if not (p.isascii() and p.isdigit()) or len(p) > 10 or not 1 <= int(p) <= 2**31 - 1:
            raise HTTPException(422, "cameras must be a comma-separated list of camera ids, e.g. 1,2,3")
        if int(p) not in ids:
            ids.append(int(p))
    if len(ids) > MAX_CAMERAS:
        raise HTTPException(422, f"at most {MAX_CAMERAS} cameras per request")
    return ids


def site_days(start_ms: int, end_ms: int, tz_name: str) -> list[dict[str, Any]]:
    """The site's local calendar days overlapping the range, with their real length in hours."""
    tz = zone(tz_name)
    return [
        {"date": d.date.isoformat(), "start": to_iso(d.start_ms), "end": to_iso(d.end_ms), "hours": d.hours,
         "utc_offset_minutes": utc_offset_minutes(tz, d.start_ms)}
        for d in local_days(start_ms, end_ms, tz)
    ]  # fmt: skip


# --- routes ----------------------------------------------------------------------------------------------
@router.get("/timeline")
def timeline(
    ctx: Ctx,
    caller: Caller,
    cameras: Annotated[str, Query(min_length=1, max_length=800, description="comma-separated camera ids (≤ 64)")],
    start: Annotated[str, Query(max_length=64)],
    end: Annotated[str, Query(max_length=64)],
    stream: Literal["main", "sub"] = "main",
    resolution: Annotated[int | None, Query(ge=1, le=86_400_000, description="merge holes up to this many ms")] = None,
) -> dict[str, Any]:
    """Runs, gaps, events, bookmarks and active evidence locks of several cameras over ``[start, end)``
    (at most 31 days), plus the site's local days (23 or 25 hours long on DST changes).

    ``resolution`` defaults to the range / 2000 (about a screen pixel) and is raised to at least
    range / 4000. Lists are capped per camera (see ``limits``); ``truncated`` says whether any was cut.
    The whole request is refused (404) if any camera does not exist or is not visible to the caller,
    403 if one is visible but the caller lacks ``playback`` on it."""
    ids = parse_camera_list(cameras)
    s_ms, e_ms = parse_range(start, end)
    for cid in ids:
        if not caller.visible([cid]):
            raise not_found(f"camera {cid}")
    span = e_ms - s_ms
    merge = max(resolution or max(1000, span // 2000), math.ceil(span / LIMITS["runs"]))
    now = now_ms()
    out: dict[str, Any] = {}
    truncated = False
    with ctx.db.session() as s:
        missing = set(ids) - repos.existing_camera_ids(s, ids)
        if missing:
            raise not_found(f"camera {min(missing)}")
        for cid in ids:
            if not caller.can(PLAYBACK, cid):
                raise HTTPException(403, f"the '{PLAYBACK}' right on camera {cid} is needed")
        for cid in ids:
            track, cut = camera_track(s, cid, stream, s_ms, e_ms, merge, now, LIMITS)
            events = repos.events_between(s, cid, s_ms, e_ms, LIMITS["events"] + 1)
            marks = repos.bookmarks_overlapping(s, cid, s_ms, e_ms, LIMITS["bookmarks"] + 1)
            if len(events) > LIMITS["events"]:
                cut.add("events")
            if len(marks) > LIMITS["bookmarks"]:
                cut.add("bookmarks")
            out[str(cid)] = {
                "runs": track["runs"],
                "gaps": track["gaps"],
                "events": [event_view(e) for e in events[: LIMITS["events"]]],
                "bookmarks": [bookmark_view(b) for b in marks[: LIMITS["bookmarks"]]],
                "locks": track["locks"],
                "truncated": bool(cut),
                "truncated_lists": sorted(cut),
            }
            truncated = truncated or bool(cut)
    return {
        "start": to_iso(s_ms),
        "end": to_iso(e_ms),
        "stream": stream,
        "resolution_ms": merge,
        "timezone": ctx.cfg.site.timezone,
        "cameras": out,
        "days": site_days(s_ms, e_ms, ctx.cfg.site.timezone),
        "truncated": truncated,
        "limits": dict(LIMITS),
    }


@router.get("/site")
def site(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """The site's name and time zone with its current UTC offset (any logged-in user)."""
    tz = zone(ctx.cfg.site.timezone)
    now = now_ms()
    today = local_days(now, now + 1, tz)[0]
    return {
        "name": ctx.cfg.site.name,
        "timezone": ctx.cfg.site.timezone,
        "utc_offset_minutes": utc_offset_minutes(tz, now),
        "now": to_iso(now),
        "today": {"date": today.date.isoformat(), "start": to_iso(today.start_ms), "end": to_iso(today.end_ms),
                  "hours": today.hours},
    }  # fmt: skip
