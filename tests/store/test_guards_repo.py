"""The shared guards' SQL (``store/guards_repo.py``) on SQLite and PostgreSQL: the TOTP step is taken by a
compare-and-set, a federation nonce is inserted once, and either holds when several nodes (several engines
on one database) try at the same moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import func, select

from ronda.store import guards_repo
from ronda.store.access_models import User
from ronda.store.db import Database
from ronda.store.federation_models import FederationNonce


def _user(db: Database) -> int:
    with db.session() as s:
        u = User(username="tina", password_hash="x", created_ms=0, enabled=True, token_version=0, failed_logins=0)
        s.add(u)
        s.flush()
        return u.id


def _at_once(db: Database, n: int, fn: Callable[[Database], bool]) -> list[bool]:
    """``fn`` on ``n`` nodes of their own, released together; what each returned."""
    nodes = [Database(db.url) for _ in range(n)]
    start = threading.Barrier(n)
    got: list[bool] = []
    lock = threading.Lock()

    def run(d: Database) -> None:
        start.wait()
        ok = fn(d)
        with lock:
            got.append(ok)

    threads = [threading.Thread(target=run, args=(d,)) for d in nodes]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for d in nodes:
            d.dispose()
    assert len(got) == n
    return got


def test_a_totp_step_is_taken_once_and_never_an_earlier_one(db: Database) -> None:
    db.upgrade()
    uid = _user(db)
    with db.session() as s:
        assert guards_repo.take_totp_step(s, uid, 100)
        assert not guards_repo.take_totp_step(s, uid, 100)
        assert not guards_repo.take_totp_step(s, uid, 99)
        assert guards_repo.take_totp_step(s, uid, 101)
        assert not guards_repo.take_totp_step(s, uid + 1, 500)  # no such user
    with db.session() as s:
        assert s.scalar(select(User.totp_last_step).where(User.id == uid)) == 101


def test_nodes_taking_one_totp_step_at_once_get_it_once(db: Database) -> None:
    db.upgrade()
    uid = _user(db)
    for step in (200, 201, 202):

        def take(d: Database, step: int = step) -> bool:
            with d.session() as s:
                s.get(User, uid)  # read first, as a login does, then verify a password for a while
                time.sleep(0.05)
                ok = guards_repo.take_totp_step(s, uid, step)
                time.sleep(0.1)  # the winner's transaction stays open: the others' updates wait for it
                return ok

        assert sorted(_at_once(db, 4, take)) == [False, False, False, True]


def _first_use(d: Database, nonce: str, exp_ms: int = 10**15) -> bool:
    with d.session() as s:
        return guards_repo.first_nonce_use(s, nonce, exp_ms)


def test_a_nonce_is_first_used_once_on_any_node_and_pruned_after_expiry(db: Database) -> None:
    db.upgrade()
    other = Database(db.url)  # a second node
    try:
        assert _first_use(db, "n1", 5_000)
        assert not _first_use(other, "n1", 5_000)  # the other node refuses it
        assert not _first_use(db, "x" * 65)  # longer than any nonce a site signs
        assert _first_use(other, "n2", 200_000)
        with other.session() as s:
            assert guards_repo.prune_nonces(s, 5_001) == 1  # n1 only
        with db.session() as s:
            assert set(s.scalars(select(FederationNonce.nonce))) == {"n2"}
    finally:
        other.dispose()


def test_nodes_using_one_nonce_at_once_accept_it_once(db: Database) -> None:
    db.upgrade()
    for k in range(3):
        got = _at_once(db, 4, lambda d, k=k: _first_use(d, f"race{k}"))
        assert sorted(got) == [False, False, False, True]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(FederationNonce)) == 3
