"""Alarms: the list an operator works from, an alarm's detail and history, and its lifecycle.

Who sees and handles which alarm is the feature's rule (``ronda.events.visibility``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from ronda.access.rights import ALARMS
from ronda.api.deps import Caller, Ctx, authenticated, object_right
from ronda.api.schemas.alarms import AlarmDetail, AlarmView
from ronda.events import visibility as feature

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
