"""A write racing a lease takeover (PostgreSQL row locks): node ``b`` takes a camera over and holds its
transaction open while node ``a``'s write runs; the write must wait for the takeover, then see it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from ronda.store import cluster_repo
from ronda.store.db import Database

T = TypeVar("T")


def write_during_takeover(db: Database, cam: int, ttl: int, write: Callable[[], T]) -> T:
    """Run ``write`` while node ``b`` holds the takeover of ``cam`` (whose lease, taken at 1000, expired)
    uncommitted; checks the write was still waiting 0.5 s later, then returns what it returned."""
    claimed, release = threading.Event(), threading.Event()

    def node_b() -> None:
        with db.session() as s:
            cluster_repo.claim(s, "b", [cam], 1, [], 1000 + ttl + 1, ttl)
            claimed.set()
            release.wait(10)

    th = threading.Thread(target=node_b)
    th.start()
    assert claimed.wait(10)
    result: list[T] = []
    w = threading.Thread(target=lambda: result.append(write()))
    w.start()
    w.join(0.5)
    waited = w.is_alive()
    release.set()
    th.join(10)
    w.join(10)
    assert waited, "the write should wait for the takeover's lock"
    assert len(result) == 1, "the write failed"
    return result[0]
