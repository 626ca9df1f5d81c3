"""Rules as data: list, create, change, delete; validated against the site and the author's rights
(``ronda.events.rule_admin``)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from fastapi import Path as PathParam

from ronda.access.rights import MANAGE_RULES
from ronda.api.deps import Caller, Ctx, global_right
from ronda.api.schemas.rules import RuleView
from ronda.events.rule_admin import RuleAdmin

router = APIRouter(tags=["rules"])
RuleId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


def _rules(ctx: Ctx) -> RuleAdmin:
    return RuleAdmin(ctx.db, ctx.secrets, ctx.cfg.events.allowed_destinations, ctx.audit, ptz=ctx.events.engine.ptz)


@router.get("/rules", response_model=list[RuleView], **global_right(MANAGE_RULES))
def list_rules(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    return _rules(ctx).list_for(caller)


@router.get("/rules/{rule_id}", response_model=RuleView, **global_right(MANAGE_RULES))
def get_rule(ctx: Ctx, caller: Caller, rule_id: RuleId) -> dict[str, Any]:
    return _rules(ctx).get(caller, rule_id)


@router.post("/rules", status_code=201, response_model=RuleView, **global_right(MANAGE_RULES))
async def create_rule(ctx: Ctx, caller: Caller, body: Annotated[Any, Body()]) -> dict[str, Any]:
    """Trigger + conditions + actions (see docs/alarms.md). Refused with a message naming the field
    when malformed, when it names unknown cameras, groups, profiles or roles, or reaches further
    than the author's rights."""
    view = await asyncio.to_thread(_rules(ctx).create, caller, body)
    await ctx.events.engine.reload()
    return view


@router.put("/rules/{rule_id}", response_model=RuleView, **global_right(MANAGE_RULES))
async def replace_rule(ctx: Ctx, caller: Caller, rule_id: RuleId, body: Annotated[Any, Body()]) -> dict[str, Any]:
    view = await asyncio.to_thread(_rules(ctx).replace, caller, rule_id, body)
    await ctx.events.engine.reload()
    return view


@router.delete("/rules/{rule_id}", status_code=204, response_class=Response, **global_right(MANAGE_RULES))
async def delete_rule(ctx: Ctx, caller: Caller, rule_id: RuleId) -> Response:
    await asyncio.to_thread(_rules(ctx).delete, caller, rule_id)
    await ctx.events.engine.reload()
    return Response(status_code=204)
