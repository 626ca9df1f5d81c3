"""The timeline across cameras (runs, gaps, events, bookmarks, evidence locks) with the site's local days.

Everything is fetched per camera with queries that walk the (camera, time) indexes; recorded runs are
merged in SQL (``repos.segment_runs``), so a 30-day zoom-out never moves single segments into Python.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from ronda.access.rights import PLAYBACK
from ronda.access.service import Principal
from ronda.errors import Forbidden, Invalid, NotFound
from ronda.events.plate_privacy import PlateFilter
from ronda.events.store import event_view
from ronda.media.bookmarks import bookmark_view
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import EvidenceLock, Gap
from ronda.timeutil import iso_range, local_days, now_ms, to_iso, utc_offset_minutes, zone

MAX_RANGE_MS = 31 * 86_400_000
MAX_CAMERAS = 64
# Items per camera and list. Runs never exceed their cap: the resolution is raised to range / MAX_RUNS
# (runs are separated by holes longer than the resolution, so there cannot be more of them).
LIMITS: Mapping[str, int] = {"runs": 4000, "gaps": 1000, "events": 1000, "bookmarks": 1000, "locks": 500}


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


def parse_camera_list(text: str) -> list[int]:
    """``"1,2,3"`` → ``[1, 2, 3]`` (duplicates dropped, order kept); ``Invalid`` on anything else."""
    ids: list[int] = []
    for part in text.split(","):
        p = part.strip()
        if not (p.isascii() and p.isdigit()) or len(p) > 10 or not 1 <= int(p) <= 2**31 - 1:
            raise Invalid("cameras must be a comma-separated list of camera ids, e.g. 1,2,3")
        if int(p) not in ids:
            ids.append(int(p))
    if len(ids) > MAX_CAMERAS:
        raise Invalid(f"at most {MAX_CAMERAS} cameras per request")
    return ids


def site_days(start_ms: int, end_ms: int, tz_name: str) -> list[dict[str, Any]]:
    """The site's local calendar days overlapping the range, with their real length in hours."""
    tz = zone(tz_name)
    return [
        {"date": d.date.isoformat(), "start": to_iso(d.start_ms), "end": to_iso(d.end_ms), "hours": d.hours,
         "utc_offset_minutes": utc_offset_minutes(tz, d.start_ms)}
        for d in local_days(start_ms, end_ms, tz)
    ]  # fmt: skip


def timeline(
    db: Database,
    caller: Principal,
    timezone: str,
    cameras: str,
    start: str,
    end: str,
    stream: str,
    resolution: int | None,
) -> dict[str, Any]:
    """Runs, gaps, events, bookmarks and active evidence locks of several cameras over ``[start, end)``.
    The whole request is refused (NotFound) if any camera does not exist or is not visible to the
    caller, Forbidden if one is visible but the caller lacks ``playback`` on it. Plate events come
    without their plate where the caller may not read the camera's plates (``events.plate_privacy``)."""
    ids = parse_camera_list(cameras)
    plates = PlateFilter(caller)
    s_ms, e_ms = iso_range(start, end, MAX_RANGE_MS)
    for cid in ids:
        if not caller.visible([cid]):
            raise NotFound(f"camera {cid}")
    span = e_ms - s_ms
    merge = max(resolution or max(1000, span // 2000), math.ceil(span / LIMITS["runs"]))
    now = now_ms()
    out: dict[str, Any] = {}
    truncated = False
    with db.session() as s:
        missing = set(ids) - repos.existing_camera_ids(s, ids)
        if missing:
            raise NotFound(f"camera {min(missing)}")
        for cid in ids:
            if not caller.can(PLAYBACK, cid):
                raise Forbidden(f"the '{PLAYBACK}' right on camera {cid} is needed")
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
                "events": plates.views(event_view(e) for e in events[: LIMITS["events"]]),
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
        "timezone": timezone,
        "cameras": out,
        "days": site_days(s_ms, e_ms, timezone),
        "truncated": truncated,
        "limits": dict(LIMITS),
    }


def site(name: str, timezone: str) -> dict[str, Any]:
    """The site's name and time zone with its current UTC offset and today's local day."""
    tz = zone(timezone)
    now = now_ms()
    today = local_days(now, now + 1, tz)[0]
    return {
        "name": name,
        "timezone": timezone,
        "utc_offset_minutes": utc_offset_minutes(tz, now),
        "now": to_iso(now),
        "today": {"date": today.date.isoformat(), "start": to_iso(today.start_ms), "end": to_iso(today.end_ms),
                  "hours": today.hours},
    }  # fmt: skip
