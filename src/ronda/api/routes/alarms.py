"""Alarms: the list an operator works from, an alarm's detail and history, its lifecycle, and its picture
(also through the signed link a notification carries, without a login: ``ronda.access.image_links``).

Who sees and handles which alarm is the feature's rule (``ronda.events.visibility``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from ronda.access.image_links import MAX_TOKEN_LEN, image_links
from ronda.access.rights import ALARMS
from ronda.access.service import Principal
from ronda.access.tokens import InvalidToken
from ronda.api.deps import (
    Caller,
    Ctx,
    authenticated,
    client_ip,
    context,
    link_principal,
    object_right,
    principal,
    signed_link,
)
from ronda.api.schemas import JPEG
from ronda.api.schemas.alarms import AlarmDetail, AlarmView
from ronda.errors import Forbidden, NotFound, Unauthenticated
from ronda.events import visibility as feature
from ronda.events.alarm_image import image_for

router = APIRouter(tags=["alarms"])
AlarmId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


@router.get("/alarms", response_model=list[AlarmView], response_model_exclude_unset=True, **authenticated())
def list_alarms(
    ctx: Ctx,
    caller: Caller,
    state: Annotated[str | None, Query(pattern="^(open|new|in_progress|on_hold|closed)$")] = None,
    priority: Annotated[str | None, Query(pattern="^(high|medium|low)$")] = None,
    camera: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
) -> list[dict[str, Any]]:
    """Alarms the caller may see, most urgent first (priority, then newest). ``state=open``: not closed."""
    return feature.list_for(ctx.db, caller, state, priority, camera, limit)


@router.get("/alarms/{alarm_id}", response_model=AlarmDetail, response_model_exclude_unset=True,
            **object_right("alarm"))  # fmt: skip
def get_alarm(ctx: Ctx, caller: Caller, alarm_id: AlarmId) -> dict[str, Any]:
    """The alarm with its history and events (and where pre-alarm playback starts: ``playback_from``)."""
    return feature.detail(ctx.db, ctx.events.alarms, caller, alarm_id)


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field("", max_length=2000)
    user: int | None = Field(None, ge=1, le=2**31 - 1, description="assign: the new owner")


Action = Literal["take", "assign", "comment", "hold", "resume", "close", "reopen"]


@router.post("/alarms/{alarm_id}/{action}", response_model=AlarmView, response_model_exclude_unset=True,
             **object_right("alarm", ALARMS))  # fmt: skip
async def alarm_action(ctx: Ctx, caller: Caller, alarm_id: AlarmId, action: Action,
                       body: ActionBody | None = None) -> dict[str, Any]:  # fmt: skip
    """``take`` (you become the owner), ``assign`` (``user``), ``comment``, ``hold``, ``resume``,
    ``close`` (``text`` = closing reason, required), ``reopen`` (``text`` = why, required)."""
    body = body or ActionBody()
    return await feature.act(ctx.db, ctx.events.alarms, ctx.auth.principal_by_id, caller, alarm_id, action,
                             body.text, body.user)  # fmt: skip


LinkToken = Annotated[str | None, Query(min_length=20, max_length=MAX_TOKEN_LEN, description="the signed link's token")]


def image_caller(request: Request, alarm_id: AlarmId, t: LinkToken = None) -> tuple[Principal, bool]:
    """``(caller, by link)``: the link's recipient when ``t`` is given (401 for an altered, forged,
    expired or other alarm's link; 403 when the request carries another user's credentials), else the
    caller's own credentials."""
    if t is None:
        return principal(request), False
    ctx = context(request)
    try:
        claims = image_links(ctx.cfg.data_dir).verify(t, alarm_id)
    except InvalidToken:
        raise Unauthenticated("the image link is invalid or has expired") from None
    try:
        return link_principal(request, claims.user_id, claims.token_version), True
    except Forbidden:
        # Someone holding a link made for another user: worth a line in the audit log.
        ctx.audit.append("anonymous", "alarm.image", "denied", None, source_ip=client_ip(request),
                         details={"alarm": alarm_id, "via": "link", "link_user": claims.user_id,
                                  "why": "sent with another user's credentials"})  # fmt: skip
        raise


ImageCaller = Annotated[tuple[Principal, bool], Depends(image_caller)]


@router.get("/alarms/{alarm_id}/image", response_class=Response, responses=JPEG,
            **signed_link("alarm", image_caller))  # fmt: skip
async def alarm_image(ctx: Ctx, who: ImageCaller, alarm_id: AlarmId) -> Response:
    """The alarm's picture (JPEG): the snapshot, with the box drawn, of its first event that has one. With
    ``t``, the link a notification carries (no login; it works for its recipient only, for minutes);
    without, the caller's credentials. 404 when the alarm has no picture the caller may see. Every
    fetch is audited (``alarm.image``, how it came: ``link`` or the credentials)."""
    caller, by_link = who
    image = await asyncio.to_thread(image_for, ctx.db, ctx.cfg.data_dir, caller, alarm_id)
    try:
        jpeg = await asyncio.to_thread(image.read)
    except OSError:  # removed since it was found (retention)
        raise NotFound("image") from None
    await asyncio.to_thread(ctx.audit.append, caller.actor, "alarm.image", "ok", image.camera_id, None, None,
                            caller.source_ip, {"alarm": alarm_id, "event": image.event_id,
                                               "via": "link" if by_link else caller.via})  # fmt: skip
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
