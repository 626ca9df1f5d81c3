"""The shared quiet periods' SQL (``store/cooldowns_repo.py``) on SQLite and PostgreSQL: a key fires once
per window, again for the message that fired it (a redelivery), again when the clock went back past the
window; nodes asking at the same moment (several engines on one database) get one True; old rows go."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from ronda.store import cooldowns_repo
from ronda.store.db import Database
from ronda.store.event_models import Cooldown
from tests.store.test_guards_repo import _at_once

T = 1_800_000_000_000  # epoch ms


def _take(d: Database, key: str, now: int, window: int = 60_000, token: str | None = None) -> bool:
    with d.session() as s:
        return cooldowns_repo.take(s, key, now, window, token)


def test_a_key_fires_once_per_window(db: Database) -> None:
    db.upgrade()
    other = Database(db.url)  # a second node
    try:
        assert _take(db, "rule:1:7", T, token="event:1")
        assert not _take(other, "rule:1:7", T + 1_000, token="event:2")  # the other node: quiet
        assert not _take(db, "rule:1:7", T + 59_999, token="event:3")
        assert _take(other, "rule:1:7", T + 1_000, token="event:1")  # event:1 redelivered there: it fired it
        assert _take(db, "rule:1:8", T + 1_000)  # another camera has its own period
        assert _take(other, "rule:1:7", T + 60_000, token="event:4")  # the window is over
        assert not _take(db, "rule:1:7", T + 60_001, token="event:1")  # event:1 is no longer what fired
        # The clock went back an hour: the period is over (not one hour and a minute long)
        assert _take(db, "rule:1:7", T + 60_000 - 3_600_000, token="event:5")
        assert not _take(db, "rule:1:7", T + 60_000 - 3_600_000 + 10, token="event:6")
    finally:
        other.dispose()


def test_bad_keys_are_refused(db: Database) -> None:
    db.upgrade()
    with pytest.raises(ValueError):
        _take(db, "k" * 101, T)
    with pytest.raises(ValueError):
        _take(db, "", T)
    with pytest.raises(ValueError):
        _take(db, "k", T, token="t" * 65)


def test_nodes_asking_at_once_fire_once(db: Database) -> None:
    db.upgrade()
    for k in range(3):  # k=0: the row is new (insert race); then it exists (compare-and-set race)
        now = T + k * 120_000

        def take(d: Database, now: int = now) -> bool:
            with d.session() as s:
                ok = cooldowns_repo.take(s, "rule:9:None", now, 60_000, None)
                time.sleep(0.1)  # the winner's transaction stays open: the others wait for it
                return ok

        assert sorted(_at_once(db, 4, take)) == [False, False, False, True]


def test_rows_quiet_for_an_hour_after_their_window_go_when_a_key_is_added(db: Database) -> None:
    db.upgrade()
    assert _take(db, "old", T, window=60_000)
    assert _take(db, "long", T, window=86_400_000)
    assert _take(db, "new", T + 60_000 + cooldowns_repo.KEEP_MS + 1)
    with db.session() as s:
        assert set(s.scalars(select(Cooldown.key))) == {"long", "new"}
