"""Alarms: the list an operator works from, an alarm's detail and history, and its lifecycle."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ronda.access.rights import ALARMS, MANAGE_CAMERAS
from ronda.access.service import Principal
from ronda.api.deps import Caller, Ctx, not_found
from ronda.events.alarms import OPEN, Actor, AlarmError, alarm_view
from ronda.events.store import events_by_ids
from ronda.store.access_models import User
from ronda.store.event_models import Alarm

router = APIRouter(tags=["alarms"])
AlarmId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


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


REDACTED_TITLE = "Alarm on a related camera"


def for_caller(caller: Principal, view: dict[str, Any]) -> dict[str, Any]:
    """What a caller who sees only related cameras learns: that there is an alarm, its state and
    cameras; not the text written from the primary camera's event (plates, names) nor who works on it."""
    if sees_primary(caller, view):
        return view
    hidden = dict(view)
    hidden.update(title=REDACTED_TITLE, instructions=None, close_reason=None, owner=None, owner_id=None,
                  incident=None, redacted=True)  # fmt: skip
    return hidden


def _owners(s: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {u.id: u.username for u in s.scalars(select(User).where(User.id.in_(ids)))}


@router.get("/alarms")
def list_alarms(
    ctx: Ctx,
    caller: Caller,
    state: Annotated[str | None, Query(pattern="^(open|new|in_progress|on_hold|closed)$")] = None,
    priority: Annotated[str | None, Query(pattern="^(high|medium|low)$")] = None,
    camera: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
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
    with ctx.db.session() as s:
        for chunk_start in range(0, 100_000, 2000):  # filter by rights in chunks until `limit` are found
            rows = s.scalars(q.offset(chunk_start).limit(2000)).all()
            seen = [a for a in rows if visible(caller, a.cameras or []) and (camera is None or camera in a.cameras)]
            owners = _owners(s, {a.owner_id for a in seen if a.owner_id is not None})
            out += [for_caller(caller, alarm_view(a, owners.get(a.owner_id or 0))) for a in seen]
            if len(out) >= limit or len(rows) < 2000:
                break
    return out[:limit]


def _get(ctx: Ctx, caller: Principal, alarm_id: int) -> dict[str, Any]:
    with ctx.db.session() as s:
        a = s.get(Alarm, alarm_id)
        if a is None or not visible(caller, a.cameras or []):
            raise not_found("alarm")
        return alarm_view(a, _owners(s, {a.owner_id} if a.owner_id else set()).get(a.owner_id or 0))


@router.get("/alarms/{alarm_id}")
def get_alarm(ctx: Ctx, caller: Caller, alarm_id: AlarmId) -> dict[str, Any]:
    """The alarm with its history and events (and where pre-alarm playback starts: ``playback_from``)."""
    full = _get(ctx, caller, alarm_id)
    view = for_caller(caller, full)
    history = ctx.events.alarms.history(alarm_id)
    events = events_by_ids(ctx.db, ctx.events.alarms.event_ids(alarm_id))
    if view is not full:
        # Only the state changes, and only the events of cameras the caller sees.
        history = [{**h, "actor": None, "text": None, "details": {}} for h in history if h.get("action") != "comment"]
        seen = caller.visible(sorted({e["camera"] for e in events if e.get("camera") is not None}))
        events = [e for e in events if e.get("camera") in seen]
    view["history"] = history
    view["events"] = events
    view["may_handle"] = may_handle(caller, full)
    return view


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field("", max_length=2000)
    user: int | None = Field(None, ge=1, le=2**31 - 1, description="assign: the new owner")


Action = Literal["take", "assign", "comment", "hold", "resume", "close", "reopen"]


@router.post("/alarms/{alarm_id}/{action}")
async def alarm_action(ctx: Ctx, caller: Caller, alarm_id: AlarmId, action: Action,
                       body: ActionBody | None = None) -> dict[str, Any]:  # fmt: skip
    """``take`` (you become the owner), ``assign`` (``user``), ``comment``, ``hold``, ``resume``,
    ``close`` (``text`` = closing reason, required), ``reopen`` (``text`` = why, required)."""
    body = body or ActionBody()
    view = await asyncio.to_thread(_get, ctx, caller, alarm_id)
    if not may_handle(caller, view):
        raise HTTPException(403, "handling this alarm needs the 'alarms' right on its own camera")
    if action == "assign" and body.user is not None:
        assignee = await asyncio.to_thread(ctx.auth.principal_by_id, body.user, "assign")
        if assignee is None or not visible(assignee, view["cameras"]):
            raise HTTPException(422, "the assignee cannot see this alarm's cameras")
    actor = Actor(caller.user_id, caller.actor, caller.source_ip)
    try:
        return await ctx.events.alarms.act(alarm_id, actor, action, body.text, body.user)
    except AlarmError as e:
        raise HTTPException(e.status, str(e)) from None
