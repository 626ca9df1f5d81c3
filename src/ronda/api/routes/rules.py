"""Rules as data: list, create, change, delete; validated against the site and the author's rights."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response
from fastapi import Path as PathParam
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ronda.access.netguard import Allowance
from ronda.access.rights import MANAGE_RULES
from ronda.api.deps import Caller, Ctx, not_found, require_global
from ronda.events.engine import validate_against_site
from ronda.events.rule_scope import may_reach, stored_reach
from ronda.events.rules import MAX_RULE_BYTES, MAX_RULES, RuleError, RuleSpec, check_webhook_destinations
from ronda.store.event_models import Rule
from ronda.timeutil import now_ms, to_iso

router = APIRouter(tags=["rules"])
RuleId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
MASK = "********"  # webhook secrets are never sent back


def rule_view(r: Rule) -> dict[str, Any]:
    actions = [{k: (MASK if k == "secret" else v) for k, v in a.items()} for a in r.actions]
    return {"id": r.id, "name": r.name, "enabled": r.enabled, "trigger": r.trigger, "conditions": r.conditions,
            "actions": actions, "created_by": r.created_by, "created": to_iso(r.created_ms),
            "updated": to_iso(r.updated_ms) if r.updated_ms else None}  # fmt: skip


def _spec(body: Any) -> RuleSpec:
    try:
        spec = RuleSpec.model_validate(body)
    except ValidationError as e:
        errors = [{"loc": list(x["loc"]), "msg": x["msg"], "type": x["type"]} for x in e.errors()]
        raise HTTPException(422, errors) from None
    # Every list is bounded by the model; this bounds their sum (what is stored, loaded and compiled).
    size = len(json.dumps(spec.model_dump(exclude_none=True), separators=(",", ":")))
    if size > MAX_RULE_BYTES:
        raise HTTPException(422, f"the rule is {size} bytes of JSON; at most {MAX_RULE_BYTES} are allowed")
    return spec


def _check(ctx: Ctx, spec: RuleSpec, author_id: int) -> None:
    try:
        validate_against_site(ctx.db, spec, author_id)
        check_webhook_destinations(spec, Allowance.parse(ctx.cfg.events.allowed_destinations))
    except RuleError as e:
        raise HTTPException(422, str(e)) from None


def _columns(ctx: Ctx, spec: RuleSpec) -> dict[str, Any]:
    actions = [a.model_dump(exclude_none=True) for a in spec.actions]
    for a in actions:
        if a.get("type") == "webhook":
            # Whoever reads the database (a backup, a replica) must not be able to sign webhooks.
            a["secret"] = ctx.secrets.seal(a["secret"])
    return {"name": spec.name, "enabled": spec.enabled, "trigger": spec.trigger.model_dump(exclude_none=True),
            "conditions": spec.conditions.model_dump(exclude_none=True), "actions": actions}  # fmt: skip


def _in_scope(s: Any, caller: Caller, r: Rule) -> bool:
    """A stored rule is read, changed or deleted only by whom could have written it (rule_scope)."""
    groups = r.trigger.get("groups") if isinstance(r.trigger, dict) else None
    return may_reach(s, caller.permissions, stored_reach(s, r.trigger, r.actions or []), groups) is None


def _scoped_rule(s: Any, caller: Caller, rule_id: int) -> Rule:
    r = s.get(Rule, rule_id)
    if r is None or not _in_scope(s, caller, r):
        raise not_found("rule")
    return r


@router.get("/rules")
def list_rules(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    require_global(caller, MANAGE_RULES)
    with ctx.db.session() as s:
        return [rule_view(r) for r in s.scalars(select(Rule).order_by(Rule.id)) if _in_scope(s, caller, r)]


@router.get("/rules/{rule_id}")
def get_rule(ctx: Ctx, caller: Caller, rule_id: RuleId) -> dict[str, Any]:
    require_global(caller, MANAGE_RULES)
    with ctx.db.session() as s:
        return rule_view(_scoped_rule(s, caller, rule_id))


@router.post("/rules", status_code=201)
async def create_rule(ctx: Ctx, caller: Caller, body: Annotated[Any, Body()]) -> dict[str, Any]:
    """Trigger + conditions + actions (see docs/alarms.md). Refused with a message naming the field
    when malformed, when it names unknown cameras, groups, profiles or roles, or reaches further
    than the author's rights."""
    require_global(caller, MANAGE_RULES)
    spec = _spec(body)
    await asyncio.to_thread(_check, ctx, spec, caller.user_id)

    def save() -> dict[str, Any]:
        with ctx.db.session() as s:
            # Every event is matched against every enabled rule: their number is bounded too.
            if (s.scalar(select(func.count()).select_from(Rule)) or 0) >= MAX_RULES:
                raise HTTPException(422, f"a site may have at most {MAX_RULES} rules; delete or merge some")
            r = Rule(**_columns(ctx, spec), created_by=caller.actor, created_ms=now_ms())
            s.add(r)
            s.flush()
            ctx.audit.record(s, caller.actor, "rule.create", "ok", source_ip=caller.source_ip,
                             details={"rule": r.id, "name": spec.name})  # fmt: skip
            return rule_view(r)

    try:
        view = await asyncio.to_thread(save)
    except IntegrityError:
        raise HTTPException(409, f"a rule named {spec.name!r} exists") from None
    await ctx.events.engine.reload()
    return view


def _keep_secrets(ctx: Ctx, rule_id: int, body: Any) -> Any:
    """A rule read back from the API has its webhook secrets masked: keep the stored secret for an
    unchanged URL, so that toggling or editing a rule never overwrites it with the mask."""
    if not isinstance(body, dict) or not isinstance(body.get("actions"), list):
        return body
    with ctx.db.session() as s:
        r = s.get(Rule, rule_id)
        stored = {a.get("url"): ctx.secrets.unseal(a.get("secret") or "")
                  for a in (r.actions if r else []) if a.get("type") == "webhook"}  # fmt: skip
    for a in body["actions"]:
        if isinstance(a, dict) and a.get("type") == "webhook" and a.get("secret") == MASK and a.get("url") in stored:
            a["secret"] = stored[a["url"]]
    return body


@router.put("/rules/{rule_id}")
async def replace_rule(ctx: Ctx, caller: Caller, rule_id: RuleId, body: Annotated[Any, Body()]) -> dict[str, Any]:
    require_global(caller, MANAGE_RULES)

    def check_existing() -> None:
        with ctx.db.session() as s:
            _scoped_rule(s, caller, rule_id)

    await asyncio.to_thread(check_existing)
    body = await asyncio.to_thread(_keep_secrets, ctx, rule_id, body)
    spec = _spec(body)
    await asyncio.to_thread(_check, ctx, spec, caller.user_id)

    def save() -> dict[str, Any]:
        with ctx.db.session() as s:
            r = _scoped_rule(s, caller, rule_id)
            for k, v in _columns(ctx, spec).items():
                setattr(r, k, v)
            r.updated_ms = now_ms()
            s.flush()
            ctx.audit.record(s, caller.actor, "rule.update", "ok", source_ip=caller.source_ip,
                             details={"rule": rule_id, "name": spec.name, "enabled": spec.enabled})  # fmt: skip
            return rule_view(r)

    try:
        view = await asyncio.to_thread(save)
    except IntegrityError:
        raise HTTPException(409, f"a rule named {spec.name!r} exists") from None
    await ctx.events.engine.reload()
    return view


@router.delete("/rules/{rule_id}", status_code=204)
async def delete_rule(ctx: Ctx, caller: Caller, rule_id: RuleId) -> Response:
    require_global(caller, MANAGE_RULES)

    def drop() -> str:
        with ctx.db.session() as s:
            r = _scoped_rule(s, caller, rule_id)
            name = r.name
            s.delete(r)
            ctx.audit.record(s, caller.actor, "rule.delete", "ok", source_ip=caller.source_ip,
                             details={"rule": rule_id, "name": name})  # fmt: skip
            return name

    await asyncio.to_thread(drop)
    await ctx.events.engine.reload()
    return Response(status_code=204)
