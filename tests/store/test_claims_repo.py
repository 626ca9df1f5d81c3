"""Rule-action claims (``ronda.store.claims_repo``) on SQLite and on a real PostgreSQL: of two nodes
claiming the same action at once exactly one wins, the loser of an open transaction waits for it and then
loses, a running claim is taken over only after its lease (by one node), and an old holder cannot write
over the outcome of the node that took over."""

from __future__ import annotations

import threading
import time

import pytest

from ronda.store import claims_repo

LEASE = 60_000


@pytest.fixture
def db(migrated_db):
    return migrated_db


def _claim(db, key: str, node: str, now: int, action: int = 0) -> claims_repo.Claim | None:
    with db.session() as s:
        return claims_repo.claim(s, 7, key, action, node, now, LEASE)


def test_of_many_racing_claimers_exactly_one_wins_each_action(db) -> None:
    keys = [f"event:{i}" for i in range(1, 21)]
    nodes = [f"n{i}" for i in range(6)]
    barrier = threading.Barrier(len(nodes))
    won: dict[str, list[str]] = {k: [] for k in keys}
    errors: list[BaseException] = []

    def run(node: str) -> None:
        try:
            barrier.wait(10)
            for k in keys:
                c = _claim(db, k, node, 1_000_000)
                if c is not None:
                    won[k].append(node)
        except BaseException as e:  # reported below: a thread's exception would pass silently
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all(len(w) == 1 for w in won.values()), won
    with db.session() as s:
        rows = [claims_repo.get(s, 7, k, 0) for k in keys]
    assert [(r.node, r.status, r.attempts) for r in rows if r] == [(won[k][0], "running", 1) for k in keys]


def test_a_claim_in_an_open_transaction_makes_the_other_node_wait_then_lose(db) -> None:
    got: list[claims_repo.Claim | None] = []
    with db.session() as s:
        assert claims_repo.claim(s, 7, "event:5", 0, "a", 1_000_000, LEASE) is not None
        other = threading.Thread(target=lambda: got.append(_claim(db, "event:5", "b", 1_000_001)))
        other.start()
        time.sleep(0.5)
        assert not got  # b waits for a's transaction (PostgreSQL: the row; SQLite: the write lock)
    other.join(30)
    assert got == [None]


def test_a_running_claim_is_taken_over_after_its_lease_once_and_fenced(db) -> None:
    first = _claim(db, "event:9", "a", 1_000_000)
    assert first == claims_repo.Claim(7, "event:9", 0, "a", 1)
    assert _claim(db, "event:9", "b", 1_000_000 + LEASE - 1) is None  # a may still be working
    with db.session() as s:
        assert claims_repo.stale(s, 1_000_000 + LEASE - 1, LEASE) == []
        assert claims_repo.stale(s, 1_000_000 + LEASE + 1, LEASE) == [(7, "event:9", 0)]
    later = 1_000_000 + LEASE + 1
    second = _claim(db, "event:9", "b", later)
    assert second == claims_repo.Claim(7, "event:9", 0, "b", 2)
    assert _claim(db, "event:9", "c", later) is None  # taken over once, not by every node that looks
    with db.session() as s:
        assert not claims_repo.finish(s, first, "done", later + 5)  # a, slow, after the takeover: not written
        assert claims_repo.finish(s, second, "failed", later + 10, "HTTP 500 Internal Server Error")
    with db.session() as s:
        row = claims_repo.get(s, 7, "event:9", 0)
    assert row is not None
    assert (row.node, row.status, row.attempts, row.finished_ms, row.error) == (
        "b",
        "failed",
        2,
        later + 10,
        "HTTP 500 Internal Server Error",
    )
    # a finished claim is never taken again, however old
    assert _claim(db, "event:9", "d", later + 10 * LEASE) is None


def test_done_claims_and_other_actions_and_retention(db) -> None:
    with db.session() as s:  # a bookmark: claimed as done in the transaction that adds it
        assert claims_repo.claim(s, 7, "event:1", 0, "a", 1000, LEASE, status="done") is not None
    assert _claim(db, "event:1", "b", 1000 + 10 * LEASE) is None
    assert _claim(db, "event:1", "b", 2000, action=1) is not None  # the rule's next action is another claim
    with db.session() as s:
        assert claims_repo.prune(s, 1500) == 1
    with db.session() as s:
        assert claims_repo.get(s, 7, "event:1", 0) is None
        assert claims_repo.get(s, 7, "event:1", 1) is not None
