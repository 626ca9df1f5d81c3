"""SQL of rule-action claims (``action_claims``; docs/alarms.md "Each action runs once").

A rule action runs on the node whose claim insert succeeded: ``INSERT ... ON CONFLICT DO NOTHING`` on the
key (rule, message key, action index), row count 1. On PostgreSQL a second insert of the same key waits
for the first transaction and then inserts nothing; SQLite serialises its writers, so the same statement
is correct there. A ``running`` claim older than the lease belongs to a node that died (or hung) while
running it: one node takes it over with an ``UPDATE`` guarded by the old claim time, so two nodes cannot
both take it (the second one's ``WHERE`` no longer matches once the first committed).

Every function takes the caller's session (one transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from ronda.store.event_models import ActionClaim

CLAIMS = cast(Table, ActionClaim.__table__)
RUNNING, DONE, FAILED = "running", "done", "failed"
Outcome = Literal["done", "failed"]


@dataclass(slots=True, frozen=True)
class Claim:
    """A claim this node holds: ``attempt`` 1 for the first node, more after takeovers (the fence of
    :func:`finish`: a slow former holder cannot overwrite the outcome of the node that took over)."""

    rule_id: int
    key: str
    action: int
    node: str
    attempt: int


@dataclass(slots=True, frozen=True)
class ClaimRow:
    rule_id: int
    key: str
    action: int
    node: str
    status: str
    attempts: int
    claimed_ms: int
    finished_ms: int | None
    error: str | None


def _rowcount(result: object) -> int:
    return int(cast(CursorResult[object], result).rowcount or 0)


def claim(s: Session, rule_id: int, key: str, action: int, node: str, now: int, lease_ms: int,
          status: str = RUNNING) -> Claim | None:  # fmt: skip
    """Take the action for this node, or None when another node has it (running within its lease, done,
    or failed). ``status`` DONE records an action that completes in this same transaction (a bookmark)."""
    dialect = s.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(CLAIMS)
    row = {"rule_id": rule_id, "message_key": key, "action": action, "node": node, "status": status, "attempts": 1,
           "claimed_ms": now, "finished_ms": now if status != RUNNING else None}  # fmt: skip
    stmt = ins.on_conflict_do_nothing(index_elements=["rule_id", "message_key", "action"]).values(row)
    # RETURNING, not the row count: a Session reports -1 for an ORM table's INSERT on PostgreSQL
    if s.execute(stmt.returning(CLAIMS.c.rule_id)).first() is not None:
        return Claim(rule_id, key, action, node, 1)
    return take_over(s, rule_id, key, action, node, now, lease_ms, status)


def take_over(s: Session, rule_id: int, key: str, action: int, node: str, now: int, lease_ms: int,
              status: str = RUNNING) -> Claim | None:  # fmt: skip
    """Take a ``running`` claim whose holder has not finished within ``lease_ms``; None when there is none
    (finished, fresh, or another node took it first)."""
    where = (ActionClaim.rule_id == rule_id, ActionClaim.message_key == key, ActionClaim.action == action)
    old = s.execute(
        select(ActionClaim.claimed_ms, ActionClaim.attempts).where(
            *where, ActionClaim.status == RUNNING, ActionClaim.claimed_ms < now - lease_ms
        )
    ).first()
    if old is None:
        return None
    attempt = int(old.attempts) + 1
    res = s.execute(
        update(ActionClaim)
        # the claim time read above: a node that took it over meanwhile changed it, and this matches nothing
        .where(
            *where,
            ActionClaim.status == RUNNING,
            ActionClaim.claimed_ms == old.claimed_ms,
            ActionClaim.attempts == old.attempts,
        )  # fmt: skip
        .values(
            node=node, claimed_ms=now, attempts=attempt, status=status, finished_ms=now if status != RUNNING else None
        )  # fmt: skip
        .execution_options(synchronize_session=False)
    )
    return Claim(rule_id, key, action, node, attempt) if _rowcount(res) == 1 else None


def finish(s: Session, c: Claim, outcome: Outcome, now: int, error: str | None = None) -> bool:
    """Record the action's outcome; False when the claim was taken over meanwhile (nothing written)."""
    res = s.execute(
        update(ActionClaim)
        .where(
            ActionClaim.rule_id == c.rule_id,
            ActionClaim.message_key == c.key,
            ActionClaim.action == c.action,
            ActionClaim.attempts == c.attempt,
            ActionClaim.node == c.node,
        )  # fmt: skip
        .values(status=outcome, finished_ms=now, error=(error or None) and error[:300])
        .execution_options(synchronize_session=False)
    )
    return _rowcount(res) == 1


def stale(s: Session, now: int, lease_ms: int, limit: int = 100) -> list[tuple[int, str, int]]:
    """(rule, message key, action) of ``running`` claims older than the lease, oldest first."""
    rows = s.execute(
        select(ActionClaim.rule_id, ActionClaim.message_key, ActionClaim.action)
        .where(ActionClaim.status == RUNNING, ActionClaim.claimed_ms < now - lease_ms)
        .order_by(ActionClaim.claimed_ms)
        .limit(limit)
    ).all()
    return [(int(r), str(k), int(a)) for r, k, a in rows]


def get(s: Session, rule_id: int, key: str, action: int) -> ClaimRow | None:
    r = s.get(ActionClaim, (rule_id, key, action))
    if r is None:
        return None
    return ClaimRow(r.rule_id, r.message_key, r.action, r.node, r.status, r.attempts, r.claimed_ms, r.finished_ms,
                    r.error)  # fmt: skip


def prune(s: Session, older_than_ms: int) -> int:
    """Retention: claims made before ``older_than_ms`` (the events they were for are gone too)."""
    res = s.execute(delete(ActionClaim).where(ActionClaim.claimed_ms < older_than_ms))
    return _rowcount(res)
