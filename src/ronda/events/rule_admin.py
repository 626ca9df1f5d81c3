"""Rules as data, as administrators change them: validated against the site and the author's rights,
webhook secrets sealed at rest and masked when read back, each rule visible only to whom could have
written it (``rule_scope``). Each change writes its audit entry in its own transaction."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ronda.access.audit import AuditLog
from ronda.access.netguard import Allowance
from ronda.access.secrets import SecretBox
from ronda.access.service import Principal
from ronda.errors import Conflict, Invalid, NotFound
from ronda.events.engine import PtzActions, validate_against_site
from ronda.events.rule_scope import may_reach, stored_reach
from ronda.events.rules import MAX_RULE_BYTES, MAX_RULES, RuleError, RuleSpec, check_webhook_destinations
from ronda.store.db import Database
from ronda.store.event_models import Alarm, Rule
from ronda.timeutil import now_ms, to_iso

MASK = "********"  # webhook secrets are never sent back


def rule_view(r: Rule) -> dict[str, Any]:
    actions = [{k: (MASK if k == "secret" else v) for k, v in a.items()} for a in r.actions]
    return {"id": r.id, "name": r.name, "enabled": r.enabled, "trigger": r.trigger, "conditions": r.conditions,
            "actions": actions, "created_by": r.created_by, "created": to_iso(r.created_ms),
            "updated": to_iso(r.updated_ms) if r.updated_ms else None}  # fmt: skip


def parse(body: Any) -> RuleSpec:
    """A rule from the JSON a caller sent; ``Invalid`` naming the field when malformed or too big."""
    try:
        spec = RuleSpec.model_validate(body)
    except ValidationError as e:
        raise Invalid([{"loc": list(x["loc"]), "msg": x["msg"], "type": x["type"]} for x in e.errors()]) from None
    # Every list is bounded by the model; this bounds their sum (what is stored, loaded and compiled).
    size = len(json.dumps(spec.model_dump(exclude_none=True), separators=(",", ":")))
    if size > MAX_RULE_BYTES:
        raise Invalid(f"the rule is {size} bytes of JSON; at most {MAX_RULE_BYTES} are allowed")
    return spec


class RuleAdmin:
    def __init__(self, db: Database, secrets: SecretBox, allowed_destinations: Any, audit: AuditLog,
                 ptz: PtzActions | None = None) -> None:  # fmt: skip
        self.db = db
        self.ptz = ptz  # which cameras ptz_preset may name
        self.audit = audit
        self.secrets = secrets
        self.allowed_destinations = allowed_destinations

    def _check(self, spec: RuleSpec, author_id: int) -> None:
        try:
            validate_against_site(self.db, spec, author_id, self.ptz)
            check_webhook_destinations(spec, Allowance.parse(self.allowed_destinations))
        except RuleError as e:
            raise Invalid(str(e)) from None

    def _columns(self, spec: RuleSpec) -> dict[str, Any]:
        actions = [a.model_dump(exclude_none=True) for a in spec.actions]
        for a in actions:
            if a.get("type") == "webhook":
                # Whoever reads the database (a backup, a replica) must not be able to sign webhooks.
                a["secret"] = self.secrets.seal(a["secret"])
        return {"name": spec.name, "enabled": spec.enabled, "trigger": spec.trigger.model_dump(exclude_none=True),
                "conditions": spec.conditions.model_dump(exclude_none=True), "actions": actions}  # fmt: skip

    @staticmethod
    def _in_scope(s: Session, caller: Principal, r: Rule) -> bool:
        """A stored rule is read, changed or deleted only by whom could have written it (rule_scope)."""
        groups = r.trigger.get("groups") if isinstance(r.trigger, dict) else None
        return may_reach(s, caller.permissions, stored_reach(s, r.trigger, r.actions or []), groups) is None

    def _scoped(self, s: Session, caller: Principal, rule_id: int) -> Rule:
        r = s.get(Rule, rule_id)
        if r is None or not self._in_scope(s, caller, r):
            raise NotFound("rule")
        return r

    def list_for(self, caller: Principal) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [rule_view(r) for r in s.scalars(select(Rule).order_by(Rule.id)) if self._in_scope(s, caller, r)]

    def get(self, caller: Principal, rule_id: int) -> dict[str, Any]:
        with self.db.session() as s:
            return rule_view(self._scoped(s, caller, rule_id))

    def create(self, caller: Principal, body: Any) -> dict[str, Any]:
        spec = parse(body)
        self._check(spec, caller.user_id)
        try:
            with self.db.session() as s:
                # Every event is matched against every enabled rule: their number is bounded too.
                if (s.scalar(select(func.count()).select_from(Rule)) or 0) >= MAX_RULES:
                    raise Invalid(f"a site may have at most {MAX_RULES} rules; delete or merge some")
                r = Rule(**self._columns(spec), created_by=caller.actor, created_ms=now_ms())
                s.add(r)
                s.flush()
                self.audit.record(s, caller.actor, "rule.create", "ok", source_ip=caller.source_ip,
                                  details={"rule": r.id, "name": spec.name})  # fmt: skip
                return rule_view(r)
        except IntegrityError:
            raise Conflict(f"a rule named {spec.name!r} exists") from None

    def _keep_secrets(self, r: Rule, body: Any) -> Any:
        """A rule read back from the API has its webhook secrets masked: keep the stored secret for an
        unchanged URL, so that toggling or editing a rule never overwrites it with the mask."""
        if not isinstance(body, dict) or not isinstance(body.get("actions"), list):
            return body
        stored = {a.get("url"): self.secrets.unseal(a.get("secret") or "")
                  for a in (r.actions or []) if a.get("type") == "webhook"}  # fmt: skip
        for a in body["actions"]:
            masked = isinstance(a, dict) and a.get("type") == "webhook" and a.get("secret") == MASK
            if masked and a.get("url") in stored:
                a["secret"] = stored[a["url"]]
        return body

    def replace(self, caller: Principal, rule_id: int, body: Any) -> dict[str, Any]:
        with self.db.session() as s:
            body = self._keep_secrets(self._scoped(s, caller, rule_id), body)
        spec = parse(body)
        self._check(spec, caller.user_id)
        try:
            with self.db.session() as s:
                r = self._scoped(s, caller, rule_id)
                for k, v in self._columns(spec).items():
                    setattr(r, k, v)
                r.updated_ms = now_ms()
                s.flush()
                self.audit.record(s, caller.actor, "rule.update", "ok", source_ip=caller.source_ip,
                                  details={"rule": rule_id, "name": spec.name, "enabled": spec.enabled})  # fmt: skip
                return rule_view(r)
        except IntegrityError:
            raise Conflict(f"a rule named {spec.name!r} exists") from None

    def delete(self, caller: Principal, rule_id: int) -> None:
        with self.db.session() as s:
            r = self._scoped(s, caller, rule_id)
            name = r.name
            s.delete(r)
            # Its alarms stay (to be handled) but are no longer the rule's: SQLite may give a later rule
            # the same id, whose events must not join these alarms through the same incident key.
            s.execute(update(Alarm).where(Alarm.rule_id == rule_id).values(rule_id=None))
            self.audit.record(s, caller.actor, "rule.delete", "ok", source_ip=caller.source_ip,
                              details={"rule": rule_id, "name": name})  # fmt: skip
