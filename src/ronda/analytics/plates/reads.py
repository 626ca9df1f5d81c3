"""From ``plate.read`` events to stored plate reads and ``plate.hotlist`` events (docs/analytics.md,
"Licence plates"). The analytics service's writer calls :func:`note` before it stores a batch of events
(an allowlisted read says so in its own payload, so that rules can skip it) and :func:`store` after,
in the same transaction (the read's row points at its event; a hotlist hit is a new event pointing at
the read)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ronda.analytics.plates import repository as repo
from ronda.analytics.plates.hotlist import Hits, PlateTextError, match, normalise, plate_key
from ronda.store import repos

log = logging.getLogger(__name__)
HOTLIST_SEVERITY = "critical"  # the highest event severity: an alarm rule takes it as it is


@dataclass(slots=True)
class Noted:
    """A ``plate.read`` row of the batch (its index) with what it matched."""

    index: int
    plate: str
    key: str
    hits: Hits


# (camera id, time_ms, event type, the read's snapshot path) → a copy for the new event, or None
CopySnapshot = Callable[[int, int, str, str], str | None]


def note(s: Session, rows: list[dict[str, Any]]) -> list[Noted]:
    """Match each ``plate.read`` row of a batch against the lists that apply to its camera; an allowlist
    hit is written into the read's payload (``allowlist``: the list's name), a hotlist hit too
    (``hotlist``). A row whose plate is no plate is stored as an event only."""
    out: list[Noted] = []
    for i, row in enumerate(rows):
        if row.get("type") != "plate.read" or row.get("camera_id") is None:
            continue
        payload = row.get("payload") or {}
        try:
            plate = normalise(str(payload.get("plate", "")))
        except PlateTextError as e:
            log.warning("camera %s: plate.read without a usable plate (%s): no plate read stored", row["camera_id"], e)
            continue
        key = plate_key(plate)
        hits = match(repo.entries_for(s, row["camera_id"], key), plate, row["time_ms"])
        payload["plate"] = plate
        if hits.allowlist is not None:
            payload["allowlist"] = hits.allowlist.list_name
        if hits.hotlist is not None:
            payload["hotlist"] = hits.hotlist.list_name
        row["payload"] = payload
        out.append(Noted(i, plate, key, hits))
    return out


def _float(v: Any, default: float = 0.0) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63 else None


@dataclass(frozen=True, slots=True)
class PlateLink:
    """Where a camera's ``dumping.detected`` looks for the plate of the vehicle that brought the object."""

    cameras: tuple[int, ...]  # the camera itself first, then its linked LPR cameras
    window_ms: int


AFTER_MS = 2000  # a read a moment after the object lay still (the van drives off past the camera) counts


def link_dumping(s: Session, rows: list[dict[str, Any]], links: dict[int, PlateLink]) -> int:
    """Name in each ``dumping.detected`` row's payload (``plate``) the newest plate read, on its camera or
    a linked one, in the window before the object lay still (``payload.since``); allowlisted reads do
    not count. Returns how many rows got one. Who may not read the camera's plates never sees the key
    (``events.plate_privacy``)."""
    named = 0
    for row in rows:
        link = links.get(row.get("camera_id") or 0)
        if row["type"] != "dumping.detected" or link is None:
            continue
        p = row["payload"]
        since = _int(p.get("since")) or row["time_ms"]
        read = repo.latest_vehicle_read(s, link.cameras, since - link.window_ms, since + AFTER_MS)
        if read is None:
            continue
        p["plate"] = {"plate": read.plate, "camera": read.camera_id, "time_ms": read.time_ms,
                      "confidence": round(read.confidence, 3), "read": read.id}  # fmt: skip
        named += 1
    return named


def store(s: Session, rows: list[dict[str, Any]], ids: list[int], noted: list[Noted],
          copy_snapshot: CopySnapshot | None = None) -> list[int]:  # fmt: skip
    """The plate reads of the noted rows (``ids``: their events' ids), and one ``plate.hotlist`` event per
    hotlist hit (severity critical, payload plate, list, reason, the read and its event; the crop as its
    snapshot, copied so that it outlives the read). Returns the new events' ids."""
    hot: list[dict[str, Any]] = []
    for n in noted:
        row, event_id = rows[n.index], ids[n.index]
        p = row["payload"]
        box = p.get("box")
        box = [round(_float(v), 4) for v in box] if isinstance(box, list) and len(box) == 4 else None
        fmt = p.get("format")
        read_id = repo.add_read(
            s, row["camera_id"], row["time_ms"], n.plate, n.key, max(0.0, min(1.0, _float(p.get("confidence")))),
            box=box, crop=row.get("snapshot"), event_id=event_id, track=_int(p.get("track")),
            fmt=str(fmt)[:16] if fmt is not None else None,
            hotlist_id=n.hits.hotlist.list_id if n.hits.hotlist else None,
            allowlist_id=n.hits.allowlist.list_id if n.hits.allowlist else None,
        )  # fmt: skip
        e = n.hits.hotlist
        if e is None:
            continue
        snap = row.get("snapshot")
        copy = (
            copy_snapshot(row["camera_id"], row["time_ms"], "plate.hotlist", snap) if snap and copy_snapshot else None
        )
        payload = {"plate": n.plate, "list": e.list_name, "list_id": e.list_id, "entry": e.plate, "reason": e.reason,
                   "read": read_id, "read_event": event_id, "confidence": p.get("confidence")}  # fmt: skip
        if box is not None:
            payload["box"] = box
        hot.append({"type": "plate.hotlist", "time_ms": row["time_ms"], "camera_id": row["camera_id"],
                    "severity": HOTLIST_SEVERITY, "source": "analytics", "payload": payload, "snapshot": copy,
                    "box": row.get("box")})  # fmt: skip
    return repos.add_events(s, hot)
