"""ClockWatch: steps of the wall clock against the monotonic clock, and retention's steady clock."""

from ronda.recording.clockwatch import ClockWatch


class Clocks:
    def __init__(self) -> None:
        self.wall = 1_000_000_000
        self.mono = 5_000

    def tick(self, ms: int) -> None:
        self.wall += ms
        self.mono += ms


def watch(c: Clocks) -> ClockWatch:
    return ClockWatch(wall=lambda: c.wall, mono=lambda: c.mono)


def test_no_step_while_both_clocks_advance_together():
    c = Clocks()
    w = watch(c)
    for _ in range(10):
        c.tick(1000)
        c.wall += 3  # NTP slewing and sampling jitter stay far below the threshold
        assert w.sample() is None
    assert w.steady_ms == c.wall


def test_forward_step_is_seen_and_absorbed_by_the_steady_clock_over_its_own_length():
    c = Clocks()
    w = watch(c)
    c.tick(1000)
    c.wall += 3_600_000
    step = w.sample()
    assert step is not None and step.step_ms == 3_600_000 and step.wall_ms == c.wall
    assert step.expected_ms == c.wall - 3_600_000
    # Retention's clock has not jumped: one second of real time passed, it counts two at most.
    assert w.steady_ms == c.wall - 3_600_000 + 1000
    for _ in range(60):
        c.tick(1000)
        assert w.sample() is None
    assert w.steady_ms == c.wall - 3_600_000 + 61_000  # one extra second per second
    for _ in range(3600):
        c.tick(1000)
        w.sample()
    assert w.steady_ms == c.wall  # caught up, never ahead


def test_backward_step_is_followed_at_once():
    c = Clocks()
    w = watch(c)
    c.tick(1000)
    c.wall -= 3_600_000
    step = w.sample()
    assert step is not None and step.step_ms == -3_600_000
    assert w.steady_ms == c.wall
    c.tick(500)
    assert w.steady_ms == c.wall  # between samples it follows real time
