"""One dome's logic (ronda.ptz.controller, ronda.ptz.arbiter) against the in-process dome that keeps its
position (ronda.ptz.simulated): priorities, takeovers, session ends, the joystick's dead-man,
reservations, patrols pausing and resuming, the idle return home. Short timeouts, real time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ronda.access.rights import NEVER, TimeProfile
from ronda.devices.ptz import PtzPosition
from ronda.ptz.arbiter import Reservation, Session, decide
from ronda.ptz.controller import Command, DomeController, PatrolPlan
from ronda.ptz.errors import DomeBusy
from ronda.ptz.simulated import SimulatedDome
from ronda.timeutil import now_ms


class Audit:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str, dict[str, Any]]] = []

    async def __call__(self, actor: str, action: str, result: str, details: dict[str, Any], ip: str | None) -> None:
        self.entries.append((actor, action, result, details))

    def actions(self) -> list[tuple[str, str]]:
        return [(a, act) for a, act, _, _ in self.entries]


def dome(**kw: Any) -> tuple[DomeController, SimulatedDome, Audit]:
    drv, audit = SimulatedDome(), Audit()
    kw.setdefault("session_timeout_s", 0.6)
    kw.setdefault("deadman_s", 0.3)
    return DomeController(1, drv, audit, **kw), drv, audit


async def until(cond: Any, within: float = 5.0) -> None:
    end = asyncio.get_running_loop().time() + within
    while not cond():
        assert asyncio.get_running_loop().time() < end, "condition not reached"
        await asyncio.sleep(0.02)


def test_decisions() -> None:
    now = 1_000_000
    s = Session("op", 10, now - 5000, now + 1000)
    assert decide(None, None, "op", 10, now).kind == "new"
    assert decide(s, None, "op", 10, now).kind == "same"
    assert decide(s, None, "sup", 50, now).kind == "takeover"
    refused = decide(s, None, "other", 10, now)  # equal: refused, naming the holder and the end
    assert not refused.granted and refused.holder == "op" and refused.until_ms == now + 1000
    assert decide(s, None, "other", 10, now + 1000).kind == "new"  # the session ended
    r = Reservation("admin", 100, now + 60_000)
    assert decide(None, r, "sup", 50, now).reserved and decide(None, r, "boss", 100, now).reserved
    assert decide(None, r, "root", 101, now).granted and decide(None, r, "admin", 100, now).granted
    assert decide(None, r, "sup", 50, now + 60_000).granted  # the reservation ended


async def test_takeover_refusal_and_session_end() -> None:
    d, drv, audit = dome()
    try:
        await d.command("operator", 10, Command("continuous", pan=0.5))
        for _ in range(5):  # joystick refreshes: no audit entry each
            await d.command("operator", 10, Command("continuous", pan=0.5))
        st = await d.command("supervisor", 50, Command("continuous", pan=-0.5))
        assert st.holder == "supervisor" and st.priority == 50
        with pytest.raises(DomeBusy) as e:
            await d.command("operator", 10, Command("continuous", pan=0.5))
        assert e.value.holder == "supervisor" and e.value.extra["holder"] == "supervisor"
        assert e.value.until_ms == d.state().until_ms
        with pytest.raises(DomeBusy):
            await d.command("operator", 10, Command("continuous", pan=0.5))  # refused again: audited once
        await until(lambda: d.state().holder is None)  # no command for 0.6 s: the session ends
        st = await d.command("operator", 10, Command("relative", pan=0.1))
        assert st.holder == "operator"
        assert audit.actions() == [
            ("operator", "ptz.session_start"),
            ("supervisor", "ptz.takeover"),
            ("operator", "ptz.refused"),
            ("supervisor", "ptz.deadman_stop"),
            ("supervisor", "ptz.session_end"),
            ("operator", "ptz.session_start"),
        ], audit.actions()
        assert audit.entries[1][3]["from"] == "operator" and audit.entries[1][3]["from_commands"] == 6
    finally:
        await d.close()


async def test_the_deadman_stops_a_lost_joystick() -> None:
    d, drv, audit = dome(session_timeout_s=5)
    try:
        await d.command("operator", 10, Command("continuous", pan=1.0))
        assert drv.moving
        await asyncio.sleep(0.15)
        await d.command("operator", 10, Command("continuous", pan=1.0))  # a refresh keeps it moving
        await asyncio.sleep(0.2)
        assert drv.moving
        await until(lambda: not drv.moving, 2)  # no refresh: stopped after ~0.3 s
        pan = (await drv.status()).pan
        await asyncio.sleep(0.2)
        assert (await drv.status()).pan == pan > 0.1
        assert drv.calls[-1] == "stop" and ("operator", "ptz.deadman_stop") in audit.actions()
    finally:
        await d.close()


async def test_absolute_is_clamped_to_the_limits() -> None:
    d, drv, _ = dome()
    try:
        await d.command("op", 1, Command("absolute", pan=0.4, tilt=-1.0, zoom=1.0))
        assert await drv.status() == PtzPosition(0.4, -1.0, 1.0)
    finally:
        await d.close()


async def test_reservation_blocks_lower_priorities() -> None:
    d, drv, audit = dome()
    try:
        await d.command("operator", 50, Command("continuous", pan=0.2))
        await d.set_reservation(Reservation("admin", 100, now_ms() + 60_000))
        assert ("operator", "ptz.session_end") in audit.actions()
        with pytest.raises(DomeBusy) as e:
            await d.command("supervisor", 99, Command("home"))
        assert e.value.holder == "admin" and e.value.code == "ptz_reserved"
        await d.command("admin", 100, Command("home"))
        await d.set_reservation(None)
        with pytest.raises(DomeBusy):  # the admin's session goes on after the reservation
            await d.command("supervisor", 99, Command("home"))
    finally:
        await d.close()


async def test_patrol_pauses_while_a_user_holds_the_dome_and_resumes_after() -> None:
    d, drv, audit = dome(session_timeout_s=0.8)
    try:
        d.set_patrol(PatrolPlan(7, "tour", (("p1", 0.3), ("p2", 0.3))))
        await until(lambda: drv.calls.count("preset:p2") >= 1)
        await until(lambda: drv.calls.count("preset:p1") >= 2)
        assert d.state().patrol_state == "running"
        await d.command("operator", 10, Command("absolute", pan=0.9))
        assert d.state().patrol_state == "paused"
        n = len(drv.calls)
        await asyncio.sleep(0.6)  # two dwell times: the patrol does not move the held dome
        assert drv.calls[n:] == [] and (await drv.status()).pan == 0.9
        await until(lambda: d.state().holder is None, 3)
        await until(lambda: len(drv.calls) > n, 2)  # resumed at once after the session
        assert drv.calls[n].startswith("preset:") and d.state().patrol_state == "running"
        d.set_patrol(None)
        assert d.state().patrol is None
    finally:
        await d.close()


async def test_idle_return_home() -> None:
    d, drv, audit = dome(session_timeout_s=0.3, idle_home_s=1)
    try:
        await d.command("operator", 10, Command("absolute", pan=0.7, tilt=0.2, zoom=0.5))
        await asyncio.sleep(0.6)
        assert (await drv.status()).pan == 0.7  # not yet
        await until(lambda: "home" in drv.calls, 3)
        assert await drv.status() == PtzPosition(0.0, 0.0, 0.0)
        assert ("system", "ptz.idle_home") in audit.actions()
        n = drv.calls.count("home")
        await asyncio.sleep(1.3)
        assert drv.calls.count("home") == n  # once per idle period
    finally:
        await d.close()


async def test_a_patrol_outside_its_time_profile_waits_and_the_dome_is_idle() -> None:
    d, drv, audit = dome(idle_home_s=1)
    try:
        await d.command("operator", 10, Command("absolute", pan=0.7))
        await d.release("operator")
        d.set_patrol(PatrolPlan(3, "nights", (("p1", 1.0),), NEVER))
        assert d.state().patrol_state == "waiting"
        await until(lambda: "home" in drv.calls, 4)  # idle: the return home applies, the patrol does not run
        assert not any(c.startswith("preset:") for c in drv.calls)
        d.set_patrol(PatrolPlan(4, "always", (("p2", 1.0),), TimeProfile.parse("UTC", [
            {"days": list(range(7)), "start": "00:00", "end": "00:00"}])))  # fmt: skip
        await until(lambda: "preset:p2" in drv.calls, 2)
        assert d.state().patrol_state == "running"
    finally:
        await d.close()


def test_position_reads_are_shared_and_a_command_refreshes_them() -> None:
    """The map and the PTZ panel poll the position every ~2 s per viewer: concurrent and repeated reads
    within POSITION_TTL_S cost the camera one status request; a command makes the next read fresh."""

    async def body() -> None:
        d, drv, _ = dome()
        calls = 0
        real_status = drv.status

        async def counted() -> PtzPosition:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)  # a camera takes a while to answer
            return await real_status()

        drv.status = counted  # type: ignore[method-assign]
        first = await asyncio.gather(*(d.position() for _ in range(20)))
        assert calls == 1 and all(p == first[0] for p in first)
        await d.position()
        assert calls == 1  # within the TTL
        await d.command("operator", 10, Command("absolute", pan=0.5, tilt=0.0, zoom=0.0))
        moved = await d.position()
        assert calls == 2 and moved is not None
        await d.close()

    asyncio.run(body())
