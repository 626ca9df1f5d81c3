"""Login throttling with an injected clock, the same rules over both stores: in memory (``LoginThrottle``)
and in the database (``SharedLoginThrottle``, SQLite and PostgreSQL), where every API node reads and
counts the same rows."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from ronda.access.throttle import PENDING_TTL_S, LoginThrottle, SharedLoginThrottle, Throttle, address_key
from ronda.store import guards_repo
from ronda.store.access_models import LoginGuard
from ronda.store.db import Database
from tests.pg import empty_database

STORES = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module", params=STORES)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database | None]:
    if request.param == "memory":
        yield None
        return
    d = empty_database(request, tmp_path_factory.mktemp("throttle"))
    d.upgrade()
    try:
        yield d
    finally:
        d.dispose()


Make = Callable[..., tuple[Throttle, Clock]]


@pytest.fixture
def make(store: Database | None) -> Make:
    """A throttle of the module's store with a clock of its own; the database's rows start empty."""
    if store is not None:
        with store.session() as s:
            s.execute(delete(LoginGuard))

    def make(**kw: Any) -> tuple[Throttle, Clock]:
        c = Clock()
        if store is None:
            return LoginThrottle(clock=c, **kw), c
        return SharedLoginThrottle(store, clock=c, **kw), c

    return make


def test_account_locks_after_five_failures_with_increasing_delay(make: Make):
    th, c = make()
    for i in range(4):
        assert th.check("mario", f"10.0.0.{i}") is None
        th.failed("mario", f"10.0.0.{i}")
    assert th.check("mario", "10.0.0.9") is None
    th.failed("mario", "10.0.0.9")
    assert th.check("mario", "10.0.1.1") == 60  # from any address
    assert th.check("MARIO ", None) == 60  # same account, normalised
    assert th.check("luigi", "10.0.0.1") is None  # other accounts unaffected
    c.t += 60
    assert th.check("mario", None) is None
    th.failed("mario", None)  # still 5+ in the window: locked again, longer
    assert th.check("mario", None) == 120
    c.t += 120
    th.failed("mario", None)
    assert th.check("mario", None) == 240


def test_lock_delay_is_capped_and_forgotten_after_a_quiet_window(make: Make):
    th, c = make(window_s=10_000)
    for _ in range(4):
        th.failed("anna", None)
    delays = []
    for _ in range(7):
        th.failed("anna", None)
        delays.append(th.check("anna", None))
        c.t += delays[-1] or 0
    assert delays == [60, 120, 240, 480, 900, 900, 900]
    c.t += 10_001  # a whole quiet window: failures and earlier lockouts are forgotten
    assert th.check("anna", None) is None
    for _ in range(4):
        th.failed("anna", None)
    assert th.check("anna", None) is None
    th.failed("anna", None)
    assert th.check("anna", None) == 60


def test_sliding_window_forgets_old_failures(make: Make):
    th, c = make()
    for _ in range(4):
        th.failed("bob", None)
        c.t += 300
    # now t=2200: the failures at 1000 and 1300 are outside the 900 s window
    th.failed("bob", None)
    assert th.check("bob", None) is None
    assert th.failures("bob") == 3


def test_success_resets_the_account_not_the_address(make: Make):
    th, c = make()
    for _ in range(4):
        th.failed("carla", "192.0.2.1")
    th.succeeded("carla", "192.0.2.1")
    th.failed("carla", "192.0.2.1")
    assert th.check("carla", None) is None and th.failures("carla") == 1
    for i in range(15):
        th.failed(f"user{i}", "192.0.2.1")
    assert th.check("someone", "192.0.2.1") is not None  # 20 failures from this address
    assert th.check("someone", "192.0.2.2") is None


def test_address_limit_slides(make: Make):
    th, c = make()
    for i in range(20):
        th.failed(f"u{i}", "198.51.100.7")  # many usernames, one address
        c.t += 10
    wait = th.check("x", "198.51.100.7")
    # the oldest failure was at t=1000, now t=1200: it leaves the window at 1900
    assert wait == 700
    c.t += 700
    assert th.check("x", "198.51.100.7") is None
    th.failed("x", "198.51.100.7")
    assert th.check("y", "198.51.100.7") == 10


def test_unknown_and_known_usernames_are_treated_alike(make: Make):
    th, _ = make()
    for _ in range(5):
        th.failed("exists", None)
        th.failed("does-not-exist", None)
    assert th.check("exists", None) == th.check("does-not-exist", None) == 60


def test_ipv6_counts_per_64_and_mapped_ipv4():
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8::1")
    assert address_key("::ffff:192.0.2.5") == "192.0.2.5"
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("not-an-ip") == "not-an-ip"


def test_memory_is_bounded():
    th = LoginThrottle(clock=Clock(), max_entries=100)
    for i in range(1000):
        th.failed(f"spray{i}", f"203.0.113.{i % 250}")
    assert len(th._entries) <= 100


def test_thread_safe(make: Make, store: Database | None):
    per_thread = 500 if store is None else 40  # a database step is a transaction
    th, _ = make(account_limit=10_000, address_limit=10_000)

    def worker():
        for _ in range(per_thread):
            th.failed("shared", "10.1.1.1")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert th.failures("shared") == 8 * per_thread


def test_reserved_attempts_hold_their_slots(make: Make):
    """Check and count are one step: attempts in flight count against the limit (issue 10, item 13)."""
    th, c = make()
    ips = [f"10.1.0.{i}" for i in range(8)]
    assert [th.reserve("mario", ip) for ip in ips[:5]] == [None] * 5
    assert th.reserve("mario", ips[5]) == 1  # five in flight: the sixth waits, nothing was verified
    th.failed("mario", ips[0])
    th.release("mario", ips[1])  # not verified (an error): the slot comes back uncounted
    assert th.failures("mario") == 1
    assert th.reserve("mario", ips[6]) is None
    th.succeeded("mario", ips[2])  # a success forgets the failures, not the attempts still in flight
    assert th.failures("mario") == 0
    for ip in (ips[3], ips[4], ips[6]):
        th.failed("mario", ip)
    assert th.failures("mario") == 3
    # Once locked and the lock over, one probe at a time.
    for i in range(2):
        assert th.reserve("mario", f"10.2.0.{i}") is None
        th.failed("mario", f"10.2.0.{i}")
    assert th.reserve("mario", "10.3.0.1") == 60
    c.t += 61
    assert th.reserve("mario", "10.3.0.1") is None
    assert th.reserve("mario", "10.3.0.2") == 1


def test_reserved_attempts_count_for_the_address(make: Make):
    th, _ = make()
    got = [th.reserve(f"user{i}", "192.0.2.7") for i in range(21)]
    assert got[:20] == [None] * 20 and got[20] == 1


def test_concurrent_reservations_never_exceed_the_limit(make: Make):
    th, _ = make()
    allowed: list[bool] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        ok = th.reserve("luigi", f"10.9.0.{i}") is None
        with lock:
            allowed.append(ok)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 5


def test_an_attempt_that_never_ends_gives_its_slot_back(make: Make):
    """A node that dies between ``reserve`` and ``failed`` must not hold the account's slots for ever."""
    th, c = make()
    assert [th.reserve("dora", f"10.4.0.{i}") for i in range(5)] == [None] * 5
    assert th.reserve("dora", "10.4.0.9") == 1
    c.t += PENDING_TTL_S + 1
    assert th.reserve("dora", "10.4.0.9") is None
    assert th.failures("dora") == 0


def test_long_usernames_and_junk_addresses_are_capped(make: Make):
    th, _ = make()
    for _ in range(5):
        th.failed("x" * 10_000, "y" * 10_000)
    assert th.check("x" * 200 + "tail", None) == 60  # the first 200 characters are the account
    assert th.reserve("x" * 10_000, "y" * 10_000) == 60


# --- the database store: several API nodes, one table -------------------------------------------------------------
def _nodes(store: Database | None, n: int) -> list[Database]:
    if store is None:
        pytest.skip("in memory, a throttle is one process's (the test above with threads)")
    return [Database(store.url) for _ in range(n)]


def test_failures_on_two_nodes_lock_the_account_as_on_one(make: Make, store: Database | None):
    make()  # (empties the table)
    a, b = _nodes(store, 2)
    try:
        nodes = [SharedLoginThrottle(a), SharedLoginThrottle(b)]
        for i in range(5):
            node = nodes[i % 2]
            assert node.reserve("elena", f"10.5.0.{i}") is None
            node.failed("elena", f"10.5.0.{i}")
        assert nodes[0].reserve("elena", "10.5.1.1") == 60 and nodes[1].reserve("elena", "10.5.1.1") == 60
        assert nodes[1].failures("elena") == 5
    finally:
        a.dispose()
        b.dispose()


@pytest.mark.parametrize("who", ["account", "address"])
def test_nodes_reserving_at_once_get_at_most_the_allowed_slots(make: Make, store: Database | None, who: str):
    """Check and count are one step across processes: 32 attempts on 4 nodes released together."""
    make()
    dbs = _nodes(store, 4)
    nodes = [SharedLoginThrottle(d) for d in dbs]
    start = threading.Barrier(32)
    allowed: list[bool] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        user, ip = ("fabio", f"10.6.{i}.1") if who == "account" else (f"user{i}", "192.0.2.66")
        start.wait()
        ok = nodes[i % 4].reserve(user, ip) is None
        with lock:
            allowed.append(ok)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(32)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for d in dbs:
            d.dispose()
    assert len(allowed) == 32
    assert allowed.count(True) == (5 if who == "account" else 20)


def test_rows_are_pruned_when_quiet_and_capped(make: Make, store: Database | None):
    if store is None:
        pytest.skip("the memory store's bound is test_memory_is_bounded")
    th, c = make(max_rows=50)
    for i in range(40):
        th.failed(f"spray{i}", f"203.0.113.{i}")  # 80 rows: an account and an address each
    th.succeeded("spray0", "203.0.113.0")  # the account's row is blank now: gone at once
    with store.session() as s:
        assert s.get(LoginGuard, "u:spray0") is None and s.get(LoginGuard, "a:203.0.113.0") is not None
        assert max(len(r) for r in s.scalars(select(LoginGuard.failures_ms))) < 40  # one failure each
    c.t += SharedLoginThrottle.PRUNE_EVERY_S
    th.failed("late", None)  # a minute later: the next step prunes, down to the cap
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(LoginGuard)) == 50
        assert s.get(LoginGuard, "u:late") is not None  # the newest rows stay
    c.t += 900 + 1
    th.failed("later", None)  # a whole quiet window: only the rows of this window remain
    with store.session() as s:
        assert set(s.scalars(select(LoginGuard.key))) == {"u:later"}


def test_a_locked_account_is_not_pruned(make: Make, store: Database | None):
    if store is None:
        pytest.skip("database store only")
    th, c = make(window_s=60, lock_base_s=600, lock_max_s=600)
    for _ in range(5):
        th.failed("gina", None)
    c.t += 120  # failures out of the window, the lock still on
    th.failed("someone-else", None)  # prunes
    assert th.check("gina", None) == 480
    with store.session() as s:
        assert guards_repo.prune_login_guards(s, 10**15, int(c.t * 1000), 1000) == 1  # someone-else only


def test_a_refused_attempt_writes_nothing(make: Make, store: Database | None):
    """A locked-out client hammering the login costs reads only (no turn at SQLite's one write lock)."""
    if store is None:
        pytest.skip("database store only")
    th, c = make()
    for _ in range(5):
        th.failed("hugo", "10.7.0.1")

    def rows() -> list[tuple[str, int]]:
        with store.session() as s:
            return sorted((k, t) for k, t in s.execute(select(LoginGuard.key, LoginGuard.touched_ms)).all())

    before = rows()
    c.t += 5
    assert [th.reserve("hugo", "10.7.0.1") for _ in range(3)] == [55] * 3
    assert rows() == before
    assert th.reserve("ugo", "10.7.0.1") is None  # allowed: counted under the lock
    assert ("u:ugo", 1_005_000) in rows()
