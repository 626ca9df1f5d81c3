"""Login throttling with an injected clock."""

from __future__ import annotations

import threading

from ronda.access.throttle import LoginThrottle, address_key


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make() -> tuple[LoginThrottle, Clock]:
    c = Clock()
    return LoginThrottle(clock=c), c


def test_account_locks_after_five_failures_with_increasing_delay():
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


def test_lock_delay_is_capped_and_forgotten_after_a_quiet_window():
    c = Clock()
    th = LoginThrottle(clock=c, window_s=10_000)
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


def test_sliding_window_forgets_old_failures():
    th, c = make()
    for _ in range(4):
        th.failed("bob", None)
        c.t += 300
    # now t=2200: the failures at 1000 and 1300 are outside the 900 s window
    th.failed("bob", None)
    assert th.check("bob", None) is None
    assert th.failures("bob") == 3


def test_success_resets_the_account_not_the_address():
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


def test_address_limit_slides():
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


def test_unknown_and_known_usernames_are_treated_alike():
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
    c = Clock()
    th = LoginThrottle(clock=c, max_entries=100)
    for i in range(1000):
        th.failed(f"spray{i}", f"203.0.113.{i % 250}")
    assert len(th._accounts) <= 100 and len(th._addresses) <= 100


def test_thread_safe():
    th, _ = make()
    th2 = LoginThrottle(account_limit=10_000, address_limit=10_000)

    def worker():
        for _ in range(500):
            th2.failed("shared", "10.1.1.1")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert th2.failures("shared") == 4000


def test_reserved_attempts_hold_their_slots():
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


def test_reserved_attempts_count_for_the_address():
    th, _ = make()
    got = [th.reserve(f"user{i}", "192.0.2.7") for i in range(21)]
    assert got[:20] == [None] * 20 and got[20] == 1


def test_concurrent_reservations_never_exceed_the_limit():
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
