"""Who sees and handles which alarm (docs/access.md), and the alarm list, detail and actions as the API
serves them. The same rules decide what the live event socket forwards."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ronda.access.rights import ALARMS, MANAGE_CAMERAS
from ronda.access.service import Principal
from ronda.errors import Forbidden, Invalid, NotFound
from ronda.events.alarms import OPEN, Actor, alarm_view
from ronda.events.plate_privacy import PlateFilter
from ronda.events.store import events_by_ids
from ronda.store.access_models import User
from ronda.store.db import Database
from ronda.store.event_models import Alarm

REDACTED_TITLE = "Alarm on a related camera"


def visible(caller: Principal, cameras: list[int]) -> bool:
    if not cameras:
        # Site-wide alarms (storage, security) are for site administrators, not organisations'.
        return caller.site_scope and caller.has(MANAGE_CAMERAS)
    if caller.via == "api_key":
        # An integration reads alarms only with a key that carries the alarms right (a key made for
        # live video or for posting events learns nothing of them).
        return any(caller.can(ALARMS, c) for c in cameras)
    return bool(caller.visible(cameras))


def sees_primary(caller: Principal, view: dict[str, Any]) -> bool:
    primary = view.get("camera")
    if primary is None:
        return visible(caller, view.get("cameras") or [])
    return bool(caller.visible([primary]))


def may_handle(caller: Principal, view: dict[str, Any]) -> bool:
    """Taking, commenting, assigning and closing need the 'alarms' right on the alarm's own camera: a
    related camera (perhaps another organisation's) is not enough."""
    primary = view.get("camera")
    if primary is None:
        cams = view["cameras"]
        return any(caller.can(ALARMS, c) for c in cams) if cams else caller.site_scope and caller.has(MANAGE_CAMERAS)
    return caller.can(ALARMS, primary)


def for_caller(caller: Principal, view: dict[str, Any]) -> dict[str, Any]:
    """What a caller who sees only related cameras learns: that there is an alarm, its state and
    cameras; not the text written from the primary camera's event (plates, names) nor who works on it."""
    if sees_primary(caller, view):
        return view
    hidden = dict(view)
    hidden.update(title=REDACTED_TITLE, instructions=None, close_reason=None, owner=None, owner_id=None,
                  incident=None, redacted=True)  # fmt: skip
    return hidden


def _owners(s: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {u.id: u.username for u in s.scalars(select(User).where(User.id.in_(ids)))}


def list_for(
    db: Database, caller: Principal, state: str | None, priority: str | None, camera: int | None, limit: int
) -> list[dict[str, Any]]:
    """Alarms the caller may see, most urgent first (priority, then newest). ``state=open``: not closed."""
    q = select(Alarm)
    if state == "open":
        q = q.where(Alarm.state.in_(OPEN))
    elif state is not None:
        q = q.where(Alarm.state == state)
    if priority is not None:
        q = q.where(Alarm.priority == priority)
    q = q.order_by(Alarm.priority_num, Alarm.created_ms.desc(), Alarm.id.desc())
    out: list[dict[str, Any]] = []
    with db.session() as s:
        for chunk_start in range(0, 100_000, 2000):  # filter by rights in chunks until `limit` are found
            rows = s.scalars(q.offset(chunk_start).limit(2000)).all()
            seen = [a for a in rows if visible(caller, a.cameras or []) and (camera is None or camera in a.cameras)]
            owners = _owners(s, {a.owner_id for a in seen if a.owner_id is not None})
            out += [for_caller(caller, alarm_view(a, owners.get(a.owner_id or 0))) for a in seen]
            if len(out) >= limit or len(rows) < 2000:
                break
    return out[:limit]


def _get(db: Database, caller: Principal, alarm_id: int) -> dict[str, Any]:
    with db.session() as s:
        a = s.get(Alarm, alarm_id)
        if a is None or not visible(caller, a.cameras or []):
            raise NotFound("alarm")
        return alarm_view(a, _owners(s, {a.owner_id} if a.owner_id else set()).get(a.owner_id or 0))


def detail(db: Database, alarms: Any, caller: Principal, alarm_id: int) -> dict[str, Any]:
    """The alarm with its history and events (and where pre-alarm playback starts: ``playback_from``);
    plate events without their plate where the caller may not read the camera's plates.
    ``alarms``: the alarm book (``ronda.events.alarms.Alarms``)."""
    full = _get(db, caller, alarm_id)
    view = for_caller(caller, full)
    history = alarms.history(alarm_id)
    events = events_by_ids(db, alarms.event_ids(alarm_id))
    if view is not full:
        # Only the state changes, and only the events of cameras the caller sees.
        history = [{**h, "actor": None, "text": None, "details": {}} for h in history if h.get("action") != "comment"]
        seen = caller.visible(sorted({e["camera"] for e in events if e.get("camera") is not None}))
        events = [e for e in events if e.get("camera") in seen]
    view = dict(view)
    view["history"] = history
    view["events"] = PlateFilter(caller).views(events)
    view["may_handle"] = may_handle(caller, full)
    return view


def check_action(db: Database, caller: Principal, alarm_id: int, assignee: Principal | None, assigning: bool) -> None:
    """Whether the caller may act on the alarm (and the assignee, when ``assigning``, sees its cameras)."""
    view = _get(db, caller, alarm_id)
    if not may_handle(caller, view):
        raise Forbidden("handling this alarm needs the 'alarms' right on its own camera")
    if assigning and (assignee is None or not visible(assignee, view["cameras"])):
        raise Invalid("the assignee cannot see this alarm's cameras")


async def act(
    db: Database, alarms: Any, principal_by_id: Any, caller: Principal, alarm_id: int, action: str, text: str,
    user: int | None,
) -> dict[str, Any]:  # fmt: skip
    """``take`` (the caller becomes the owner), ``assign`` (``user``), ``comment``, ``hold``, ``resume``,
    ``close`` (``text`` = closing reason), ``reopen`` (``text`` = why)."""
    assignee = None
    if action == "assign" and user is not None:
        assignee = await asyncio.to_thread(principal_by_id, user, "assign")
    await asyncio.to_thread(check_action, db, caller, alarm_id, assignee, action == "assign" and user is not None)
    result: dict[str, Any] = await alarms.act(alarm_id, Actor(caller.user_id, caller.actor, caller.source_ip),
                                              action, text, user)  # fmt: skip
    return result


PEER_ACTIONS = ("take", "comment", "hold", "resume", "close", "reopen")  # not assign: the peer has no users here


async def act_for_peer(db: Database, alarms: Any, caller: Principal, cameras: frozenset[int], alarm_id: int,
                       action: str, text: str, peer: str, user: str) -> dict[str, Any]:  # fmt: skip
    """A peer site's central user handles an alarm (docs/cluster.md "Federation"). Allowed twice: the peer's
    grant (``caller``, the peer's principal) gives the alarms right on the alarm's own camera, and the centre
    lets that user handle it (``cameras``: the centre's own check, signed into the request). The user owns
    what they take by name (``user@peer``), as no local user; the history and the audit record ``peer`` and
    ``user`` apart too."""
    if action not in PEER_ACTIONS:
        raise Invalid(f"a peer site's user cannot {action} an alarm here")

    def check() -> None:
        view = _get(db, caller, alarm_id)
        own = [view["camera"]] if view.get("camera") is not None else list(view.get("cameras") or [])
        if not any(c in cameras for c in own):
            raise NotFound("alarm")  # not one the centre lets this user see: as if it did not exist
        if not may_handle(caller, view):
            raise Forbidden("handling this alarm needs the 'alarms' right on its own camera")

    await asyncio.to_thread(check)
    actor = Actor(None, caller.actor[:200], caller.source_ip, remote=True, via={"peer": peer, "user": user})
    result: dict[str, Any] = await alarms.act(alarm_id, actor, action, text)
    return result
