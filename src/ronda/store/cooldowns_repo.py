"""SQL of the quiet periods every node of a site shares (``Cooldown``; docs/cluster.md "Shared guards").

``take`` decides whether something keyed ``key`` may fire now, and if so records that it did: one
compare-and-set, so of two nodes asking at the same moment one gets True. A refusal is decided on a plain
read (no write: a burst the cooldown holds back costs the database nothing but reads).

Times are wall clock (the nodes share no monotonic clock). A ``last_ms`` more than a window in the future
means the clock went back (a correction, or another node's clock far off): the period is over, rather than
keeping a rule quiet for as long as the jump.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ronda.store.event_models import Cooldown

COOLDOWNS = cast(Table, Cooldown.__table__)
MAX_KEY = 100  # Cooldown.key
MAX_TOKEN = 64  # Cooldown.token
# Rows quiet this long after their window are deleted when a new key is added (a window is at most a day).
KEEP_MS = 3_600_000


def _quiet(last_ms: int, window_ms: int, now: int) -> bool:
    return now - window_ms < last_ms < now + window_ms


def take(s: Session, key: str, now: int, window_ms: int, token: str | None = None) -> bool:
    """True when ``key`` may fire at ``now``: it did not fire within ``window_ms``, or what fired it was
    ``token`` (the same message delivered again). Records ``now`` and ``token`` when it fires."""
    if not key or len(key) > MAX_KEY or (token is not None and len(token) > MAX_TOKEN):
        raise ValueError("cooldown key or token too long")
    row = s.execute(select(Cooldown.last_ms, Cooldown.token).where(Cooldown.key == key)).one_or_none()
    if row is not None:
        if _quiet(row.last_ms, window_ms, now):
            return token is not None and row.token == token
        # Compare-and-set on what was read: of two nodes that read the same row, one updates it.
        done = s.execute(
            update(Cooldown)
            .where(Cooldown.key == key, Cooldown.last_ms == row.last_ms)
            .values(last_ms=now, window_ms=window_ms, token=token)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        return bool(done == 1)
    s.execute(delete(Cooldown).where(Cooldown.last_ms < now - Cooldown.window_ms - KEEP_MS))
    ins = (postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert)(COOLDOWNS)
    ins = ins.values(key=key, last_ms=now, window_ms=window_ms, token=token).on_conflict_do_nothing(
        index_elements=["key"]
    )
    # RETURNING, not rowcount: psycopg reports no row count for this insert.
    if s.execute(ins.returning(COOLDOWNS.c.key)).scalar_one_or_none() is not None:
        return True
    # Another node inserted it at the same moment: it fired, unless for the same message.
    theirs = s.execute(select(Cooldown.token).where(Cooldown.key == key)).scalar_one_or_none()
    return token is not None and theirs == token
