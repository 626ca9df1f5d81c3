"""Events: search, and posting them (external sensors and systems, or an operator's manual event)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ronda.access.rights import ALARMS, MANAGE_CAMERAS, SEND_EVENTS
from ronda.api.deps import Caller, Ctx, authenticated, iso_param, object_right, site_right
from ronda.api.schemas.events import EventStats, EventView, PostedEvents
from ronda.errors import DomainError, Forbidden, Invalid, NotFound
from ronda.events import event_admin
from ronda.events.ingest import IncomingEvent
from ronda.events.plate_privacy import PlateFilter
from ronda.events.store import NewEvent, search_events
from ronda.media.cameras import camera_ids
from ronda.timeutil import now_ms

router = APIRouter(tags=["events"])
MAX_BATCH = 500
MAX_PAST_MS = 24 * 3600 * 1000
MAX_FUTURE_MS = 5 * 60 * 1000


class EventBody(IncomingEvent):
    """The HTTP form of an incoming event: the fields every transport shares (type, severity, text,
    payload, uid: one validator for HTTP and MQTT) plus cameras, a sensor and a time."""

    camera: int | None = Field(None, ge=1, le=2**31 - 1)
    cameras: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(None, max_length=16)
    sensor: str | None = Field(None, pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="a sensor of events.sensors")
    time: str | None = Field(None, max_length=64, description="when it happened (default: now)")


_ONE_OR_MANY: TypeAdapter[EventBody | list[EventBody]] = TypeAdapter(
    EventBody | Annotated[list[EventBody], Field(min_length=1, max_length=MAX_BATCH)]
)


@router.get("/events", response_model=list[EventView], response_model_exclude_unset=True, **authenticated())
def list_events(
    ctx: Ctx,
    caller: Caller,
    camera: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    since: str | None = None,
    until: str | None = None,
    type: Annotated[str | None, Query(max_length=500, description="one type or a comma-separated list")] = None,
    source: Annotated[str | None, Query(pattern="^(analytics|camera|system|user|external)$")] = None,
    text: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Stored events the caller may see, newest first. ``plate.*`` events of cameras whose plates the
    caller may not read come without their plate, text and crop (docs/access.md)."""
    since_ms = iso_param(since, "since") if since is not None else None
    until_ms = iso_param(until, "until") if until is not None else None
    visible = sorted(caller.visible(camera_ids(ctx.db)))
    cams = [c for c in visible if c == camera] if camera is not None else visible
    types = [t.strip() for t in type.split(",") if t.strip()] if type else None
    glob = camera is None and caller.site_scope and caller.has(MANAGE_CAMERAS)  # system and security events
    found = search_events(ctx.db, camera_ids=cams, since_ms=since_ms, until_ms=until_ms, types=types, source=source,
                          text=text, include_global=glob, limit=limit)  # fmt: skip
    plates = PlateFilter(caller)
    if text:
        found = [e for e in found if plates.matches_text(e, text)]
    return plates.views(found)


@router.post("/events", status_code=202, response_model=PostedEvents, **object_right("event cameras"))
async def post_events(ctx: Ctx, caller: Caller, body: Annotated[Any, Body()]) -> dict[str, Any]:
    """One event or a list (up to 500) from a sensor gateway or another system (needs ``send_events``),
    or an operator's manual event on a camera (needs the ``alarms`` right on it). Idempotent by ``uid``."""
    events = ctx.events
    try:
        parsed = _ONE_OR_MANY.validate_python(body)
    except ValidationError as e:
        events.rejected += 1
        raise Invalid([{"loc": list(x["loc"]), "msg": x["msg"], "type": x["type"]} for x in e.errors()]) from None
    items = parsed if isinstance(parsed, list) else [parsed]
    external = caller.has(SEND_EVENTS)
    existing = set(await asyncio.to_thread(camera_ids, ctx.db))
    t = now_ms()
    out: list[NewEvent] = []
    for i, ev in enumerate(items):
        try:
            out.append(_to_new(ctx, caller, ev, external, existing, t))
        except DomainError as e:
            events.rejected += 1
            e.detail = f"event {i}: {e.detail}"
            raise
    ids = await events.writer.submit(out)
    return {"ids": ids, "stored": sum(1 for x in ids if x is not None), "duplicates": sum(1 for x in ids if x is None)}


def _to_new(ctx: Ctx, caller: Caller, ev: EventBody, external: bool, existing: set[int], t: int) -> NewEvent:
    cams = list(dict.fromkeys([c for c in [ev.camera, *(ev.cameras or [])] if c is not None]))
    etype = ev.type
    if ev.sensor is not None:
        sensor = ctx.cfg.events.sensors.get(ev.sensor)
        if sensor is None:
            raise Invalid(f"unknown sensor {ev.sensor!r} (configure it under events.sensors)")
        cams = list(dict.fromkeys([*cams, *sensor.cameras]))
    for c in cams:
        if c not in existing or not caller.visible([c]):
            raise NotFound(f"camera {c}")
    if not external:
        if not cams:
            raise Forbidden("posting events needs the send_events right (or a camera you handle alarms on)")
        for c in cams:
            if not caller.can(ALARMS, c):
                raise Forbidden(f"a manual event on camera {c} needs the 'alarms' right")
    when = iso_param(ev.time, "time") if ev.time else t
    if not t - MAX_PAST_MS <= when <= t + MAX_FUTURE_MS:
        raise Invalid("time must be within the last 24 hours (and not in the future)")
    payload = dict(ev.payload)
    if ev.sensor:
        payload["sensor"] = ev.sensor
    if not external:
        payload["by"] = caller.actor
    return NewEvent(etype, when, cams[0] if cams else None, cams or None, ev.severity,
                    "external" if external else "user", payload, ev.text,
                    f"{caller.user_id}:{ev.uid}" if ev.uid else None)  # fmt: skip


EventId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


class RedactBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500, description="why (kept in the audit log)")


@router.post("/events/{event_id}/redact", response_model=EventView, response_model_exclude_unset=True,
             **object_right("event", MANAGE_CAMERAS))  # fmt: skip
async def redact_one(ctx: Ctx, caller: Caller, event_id: EventId, body: RedactBody) -> dict[str, Any]:
    """Remove an event's payload, text and snapshot reference (a stored mistake, personal data that
    must go, or a payload that cannot be shown), keeping that it happened. Audited with the reason."""
    return await asyncio.to_thread(event_admin.redact, ctx.db, ctx.audit, caller, event_id, body.reason)


@router.delete("/events/{event_id}", status_code=204, response_class=Response,
               **object_right("event", MANAGE_CAMERAS))  # fmt: skip
async def delete_one(
    ctx: Ctx,
    caller: Caller,
    event_id: EventId,
    reason: Annotated[str | None, Query(max_length=500, description="why (kept in the audit log)")] = None,
) -> Response:
    """Delete one event (same rights as redacting). Alarms it raised keep their own history."""
    await asyncio.to_thread(event_admin.delete, ctx.db, ctx.audit, caller, event_id, reason)
    return Response(status_code=204)


@router.get("/events/stats", response_model=EventStats, **site_right(MANAGE_CAMERAS))
def event_stats(ctx: Ctx) -> dict[str, Any]:
    """Bus queues and counters: stored, published, rejected (HTTP and MQTT), notifications sent (the whole
    site's figures: for site administrators)."""
    ev = ctx.events
    notifier = ev.notifier
    return {
        "bus": ev.bus.stats(),
        "stored": ev.writer.stored,
        "duplicates": ev.writer.duplicates,
        "published": ev.relay.published,
        "rejected_http": ev.rejected,
        "rejected_mqtt": notifier.rejected_ingest if notifier is not None else 0,
        "notifications_sent": notifier.sent if notifier is not None else 0,
        "rules_fired": ev.engine.fired,
        "rule_loops_stopped": ev.engine.loops_stopped,
    }
