"""SQL of the guards every API node of a site shares (docs/cluster.md "Shared guards"): the login
throttle's rows, the TOTP step a user last used, the nonces of accepted federation tokens.

Each check-and-count is one atomic step across processes. On PostgreSQL the rows are locked (an upsert
locks the row it meets; ``FOR UPDATE``) or the statement is conditional; on SQLite the first statement of
the transaction is a write, so the transaction holds the database's write lock from its start and the
writers are serialised.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ronda.store.access_models import LoginGuard, User
from ronda.store.federation_models import FederationNonce

GUARDS = cast(Table, LoginGuard.__table__)
NONCES = cast(Table, FederationNonce.__table__)
MAX_KEY = 210  # LoginGuard.key
MAX_NONCE = 64  # FederationNonce.nonce


def _insert(s: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT (the one with ON CONFLICT)."""
    return (postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


# --- login throttle -----------------------------------------------------------------------------------------
def lock_login_guards(s: Session, keys: Iterable[str], now: int) -> dict[str, LoginGuard]:
    """The rows of ``keys`` (created blank when missing), locked for the rest of the transaction. Keys go in
    one sorted order, so two transactions locking the same pair cannot deadlock."""
    wanted = sorted(set(keys))
    if any(len(k) > MAX_KEY for k in wanted):
        raise ValueError("login guard key too long")
    if not wanted:
        return {}
    for k in wanted:
        ins = _insert(s, GUARDS).values(key=k, failures_ms="[]", pending_ms="[]", locked_until_ms=0, lockouts=0,
                                        touched_ms=now)  # fmt: skip
        # DO UPDATE (not DO NOTHING): it locks the row it meets on PostgreSQL, and is a write on SQLite.
        s.execute(ins.on_conflict_do_update(index_elements=["key"], set_={"touched_ms": ins.excluded.touched_ms}))
    rows = s.scalars(
        select(LoginGuard).where(LoginGuard.key.in_(wanted)).with_for_update().execution_options(populate_existing=True)
    )
    return {r.key: r for r in rows}


def read_login_guards(s: Session, keys: Iterable[str]) -> dict[str, LoginGuard]:
    """The rows of ``keys`` that exist, unlocked (for a check that counts nothing)."""
    rows = s.scalars(select(LoginGuard).where(LoginGuard.key.in_(sorted(set(keys)))))
    return {r.key: r for r in rows}


def prune_login_guards(s: Session, quiet_before: int, now: int, max_rows: int) -> int:
    """Delete the rows untouched since ``quiet_before`` whose lock is over (their failures and attempts have
    all left the window: a blank row says the same), then the least recently touched beyond ``max_rows``.
    Rows another transaction holds are skipped (``SKIP LOCKED``): the prune waits for no one, so it cannot
    close a cycle of waits with the nodes counting logins. Returns how many went."""
    quiet = (
        select(LoginGuard.key)
        .where(LoginGuard.touched_ms < quiet_before, LoginGuard.locked_until_ms <= now)
        .with_for_update(skip_locked=True)
    )
    gone = s.execute(delete(LoginGuard).where(LoginGuard.key.in_(quiet.scalar_subquery()))).rowcount  # type: ignore[attr-defined]
    excess = (s.scalar(select(func.count()).select_from(LoginGuard)) or 0) - max_rows
    if excess > 0:
        oldest = select(LoginGuard.key).order_by(LoginGuard.touched_ms).limit(excess).with_for_update(skip_locked=True)
        gone += s.execute(delete(LoginGuard).where(LoginGuard.key.in_(oldest.scalar_subquery()))).rowcount  # type: ignore[attr-defined]
    return int(gone)


# --- TOTP -----------------------------------------------------------------------------------------------------
def take_totp_step(s: Session, user_id: int, step: int) -> bool:
    """Record ``step`` as the user's last used TOTP step if it is later than the one stored: a
    compare-and-set, so of two nodes accepting the same code at once only one gets True."""
    done = s.execute(
        update(User)
        .where(User.id == user_id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(done == 1)


# --- federation nonces ----------------------------------------------------------------------------------------
def first_nonce_use(s: Session, nonce: str, exp_ms: int) -> bool:
    """Store the nonce; True when no node had stored it before (insert-or-fail: on PostgreSQL a concurrent
    insert of the same nonce waits for the first to commit, then inserts nothing)."""
    if not nonce or len(nonce) > MAX_NONCE:
        return False
    ins = _insert(s, NONCES).values(nonce=nonce, exp_ms=exp_ms).on_conflict_do_nothing(index_elements=["nonce"])
    # RETURNING, not rowcount: psycopg reports no row count for this insert.
    return s.execute(ins.returning(NONCES.c.nonce)).scalar_one_or_none() is not None


def prune_nonces(s: Session, before: int) -> int:
    """Delete the nonces that expired before ``before``."""
    # Rows another node is deleting right now are skipped, not waited for (two prunes cannot deadlock).
    old = select(FederationNonce.nonce).where(FederationNonce.exp_ms < before).with_for_update(skip_locked=True)
    return int(s.execute(delete(FederationNonce).where(FederationNonce.nonce.in_(old.scalar_subquery()))).rowcount)  # type: ignore[attr-defined]
