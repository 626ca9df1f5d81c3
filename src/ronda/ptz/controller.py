"""One dome: commands under the arbiter's decisions, the joystick's dead-man stop, the end of sessions and
reservations, patrols and the return home when idle.

Every change of the dome's state and every driver call happens under the controller's lock, so a
patrol step never interleaves with a user's command. One background task per dome sleeps until the
next deadline (a move's dead-man, a session's end, a patrol step, the idle return) or until a command
wakes it.

Audit (through ``audit``, written by the service): a session's start, a takeover, each discrete
command (relative, absolute, preset, home), each stop, a session's end and a refusal (once per refused
user and holder's session). Joystick refreshes within a session are not written one by one: they are
counted in the session's end entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from ronda.access.rights import TimeProfile
from ronda.devices.ptz import PtzDriver, PtzLimits, PtzPosition
from ronda.errors import DeviceError
from ronda.ptz import arbiter
from ronda.ptz.arbiter import Decision, Reservation, Session
from ronda.ptz.errors import DomeBusy
from ronda.tasks import cancel_and_wait
from ronda.timeutil import now_ms

POSITION_TTL_S = 1.0

log = logging.getLogger(__name__)
Action = Literal["continuous", "relative", "absolute", "stop", "preset", "home"]
# (actor, action, result, details, source address)
AuditSink = Callable[[str, str, str, dict[str, Any], str | None], Awaitable[None]]
SYSTEM = "system"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Command:
    """``continuous``: speeds -1..1; ``relative``: steps; ``absolute``: a position (generic spaces);
    ``preset``: a preset token; ``stop`` and ``home`` take nothing."""

    action: Action
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0
    preset: str | None = None

    def details(self) -> dict[str, Any]:
        if self.action in ("stop", "home"):
            return {"action": self.action}
        if self.action == "preset":
            return {"action": self.action, "preset": self.preset}
        return {"action": self.action, "pan": self.pan, "tilt": self.tilt, "zoom": self.zoom}


@dataclass(frozen=True, slots=True)
class PatrolPlan:
    id: int
    name: str
    steps: tuple[tuple[str, float], ...]  # (preset token, dwell seconds)
    profile: TimeProfile | None = None


@dataclass(frozen=True, slots=True)
class DomeState:
    holder: str | None
    priority: int | None
    until_ms: int | None
    reservation: Reservation | None
    patrol: PatrolPlan | None
    patrol_state: str | None  # running | paused (a user holds the dome) | waiting (outside its time profile)
    patrol_step: int | None
    idle_home_s: int
    moving: bool


@dataclass
class _Patrol:
    plan: PatrolPlan
    step: int = 0  # the next step to go to
    next_ms: int = 0  # when to go there


@dataclass
class DomeController:
    camera_id: int
    driver: PtzDriver
    audit: AuditSink
    session_timeout_s: float = 30.0
    deadman_s: float = 1.0
    command_timeout_s: float = 5.0
    idle_home_s: int = 0
    reservation: Reservation | None = None
    clock: Callable[[], int] = now_ms
    session: Session | None = None
    _patrol: _Patrol | None = None
    _move_deadline: int | None = None  # the dead-man: stop unless refreshed by then
    _last_activity: int = field(default_factory=now_ms)
    _home_done: bool = True  # the idle return happened since the last activity
    _refused: set[str] = field(default_factory=set)
    _limits: PtzLimits | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _closed: bool = False
    # The last position read and when (monotonic s): every viewer of the map and the PTZ panel polls it
    # every ~2 s; they share one camera request per POSITION_TTL_S instead of one each.
    _position: tuple[float, PtzPosition | None] | None = None
    _position_read: asyncio.Future[PtzPosition | None] | None = None

    # --- driver calls -------------------------------------------------------------------------------
    async def _call(self, what: str, aw: Awaitable[T]) -> T:
        if what != "a status request":
            self._position = None  # a command may move the dome: the next reader asks the camera
        try:
            return await asyncio.wait_for(aw, self.command_timeout_s)
        except TimeoutError:
            raise DeviceError(f"the camera did not answer {what} within {self.command_timeout_s:g} s") from None

    async def limits(self) -> PtzLimits:
        if self._limits is None:
            self._limits = await self._call("a limits request", self.driver.limits())
        return self._limits

    async def position(self) -> PtzPosition | None:
        """The dome's position, at most POSITION_TTL_S old; callers at the same moment share one request."""
        if self._position is not None and time.monotonic() - self._position[0] < POSITION_TTL_S:
            return self._position[1]
        if self._position_read is None or self._position_read.done():
            self._position_read = asyncio.ensure_future(self._read_position())
        # shield: a caller that gives up (a closed HTTP request) does not cancel the others' read
        return await asyncio.shield(self._position_read)

    async def _read_position(self) -> PtzPosition | None:
        try:
            pos: PtzPosition | None = await self._call("a status request", self.driver.status())
        except DeviceError as e:
            log.info("camera %s: no PTZ status: %s", self.camera_id, e)
            pos = None
        self._position = (time.monotonic(), pos)
        return pos

    # --- arbitration ------------------------------------------------------------------------------------
    def _decide(self, actor: str, priority: int) -> Decision:
        return arbiter.decide(self.session, self.reservation, actor, priority, self.clock())

    async def _refuse(self, d: Decision, actor: str, priority: int, action: str, source_ip: str | None) -> DomeBusy:
        assert d.holder is not None and d.until_ms is not None
        if actor not in self._refused:  # once per refused user while this holder keeps the dome
            self._refused.add(actor)
            await self.audit(actor, "ptz.refused", "refused",
                             {"action": action, "priority": priority, "holder": d.holder,
                              "until_ms": d.until_ms, "reserved": d.reserved}, source_ip)  # fmt: skip
        return DomeBusy(d.holder, d.until_ms, d.reserved)

    async def _acquire(self, actor: str, priority: int, cmd_details: dict[str, Any], source_ip: str | None) -> str:
        """Grant the dome to ``actor`` (``DomeBusy`` otherwise); audit a start or a takeover. Returns the
        decision's kind. Called under the lock."""
        now = self.clock()
        self._end_expired(now)
        d = self._decide(actor, priority)
        if not d.granted:
            raise await self._refuse(d, actor, priority, str(cmd_details.get("action")), source_ip)
        if d.kind != "same":
            self._refused.clear()
        if d.kind == "takeover" and d.previous is not None:
            await self.audit(actor, "ptz.takeover", "ok",
                             {**cmd_details, "priority": priority, "from": d.previous.actor,
                              "from_priority": d.previous.priority, "from_commands": d.previous.commands},
                             source_ip)  # fmt: skip
        elif d.kind == "new":
            await self.audit(actor, "ptz.session_start", "ok", {**cmd_details, "priority": priority}, source_ip)
        self.session = arbiter.extend(self.session, d, actor, priority, now, int(self.session_timeout_s * 1000))
        self._touch(now)
        return d.kind

    def _touch(self, now: int) -> None:
        self._last_activity = now
        self._home_done = False
        self._wake.set()

    def _end_expired(self, now: int) -> Session | None:
        """Forget a session past its end; the ended session (to audit), if any."""
        s = self.session
        if s is not None and s.until_ms <= now:
            self.session = None
            self._refused.clear()
            return s
        return None

    # --- commands -------------------------------------------------------------------------------------------
    async def command(self, actor: str, priority: int, cmd: Command, source_ip: str | None = None) -> DomeState:
        self._start()
        async with self._lock:
            kind = await self._acquire(actor, priority, cmd.details(), source_ip)
            await self._execute(cmd)
            # Discrete commands are each written; joystick refreshes are not (see the module's doc).
            if kind == "same" and cmd.action in ("relative", "absolute", "preset", "home"):
                await self.audit(actor, "ptz.command", "ok", cmd.details(), source_ip)
            elif cmd.action == "stop":
                await self.audit(actor, "ptz.stop", "ok", {"action": "stop"}, source_ip)
            return self._state()

    async def _execute(self, cmd: Command) -> None:
        if cmd.action == "continuous":
            # The driver's own timeout is a second dead-man, in the camera, should Ronda die mid-move.
            await self._call("a move", self.driver.continuous(cmd.pan, cmd.tilt, cmd.zoom, self.deadman_s * 2))
            self._move_deadline = self.clock() + int(self.deadman_s * 1000)
            return
        self._move_deadline = None
        if cmd.action == "stop":
            await self._call("a stop", self.driver.stop())
        elif cmd.action == "relative":
            await self._call("a move", self.driver.relative(cmd.pan, cmd.tilt, cmd.zoom))
        elif cmd.action == "absolute":
            lim = await self.limits()
            pos = PtzPosition(_clamp(cmd.pan, lim.pan), _clamp(cmd.tilt, lim.tilt), _clamp(cmd.zoom, lim.zoom))
            await self._call("a move", self.driver.absolute(pos))
        elif cmd.action == "preset":
            assert cmd.preset is not None
            await self._call("a preset", self.driver.goto_preset(cmd.preset))
        elif cmd.action == "home":
            await self._call("a home command", self.driver.home())

    async def with_dome(self, actor: str, priority: int, details: dict[str, Any], source_ip: str | None,
                        work: Callable[[], Awaitable[T]]) -> T:  # fmt: skip
        """Run ``work`` (a preset saved, the home set...) as a command of ``actor``: arbitrated, in the
        lock, extending the actor's session."""
        self._start()
        async with self._lock:
            await self._acquire(actor, priority, details, source_ip)
            return await work()

    async def release(self, actor: str) -> None:
        """End ``actor``'s session (they handed the dome to a patrol)."""
        async with self._lock:
            if self.session is not None and self.session.actor == actor:
                ended, self.session = self.session, None
                self._refused.clear()
                await self.audit(actor, "ptz.session_end", "ok", {"reason": "released",
                                                                 "commands": ended.commands}, None)  # fmt: skip
            self._wake.set()

    def check_free(self, actor: str, priority: int) -> None:
        """``DomeBusy`` unless ``actor`` could steer now (no audit: for a request that does not move it)."""
        self._end_expired(self.clock())
        d = self._decide(actor, priority)
        if not d.granted:
            assert d.holder is not None and d.until_ms is not None
            raise DomeBusy(d.holder, d.until_ms, d.reserved)

    # --- reservations, settings, patrols (the service stores them) ------------------------------------
    async def set_reservation(self, res: Reservation | None) -> None:
        async with self._lock:
            self.reservation = res
            if res is not None and self.session is not None and self.session.actor != res.actor:
                ended, self.session = self.session, None  # the reservation takes the dome
                await self.audit(ended.actor, "ptz.session_end", "ok",
                                 {"reason": "reserved", "by": res.actor, "commands": ended.commands}, None)  # fmt: skip
            self._touch(self.clock())

    def set_idle_home(self, seconds: int) -> None:
        self.idle_home_s = seconds
        self._wake.set()

    def set_patrol(self, plan: PatrolPlan | None) -> None:
        self._start()
        self._patrol = _Patrol(plan, 0, self.clock()) if plan is not None else None
        if plan is None:
            self._touch(self.clock())  # idle from now
        self._wake.set()

    @property
    def patrol(self) -> PatrolPlan | None:
        return self._patrol.plan if self._patrol is not None else None

    # --- state ------------------------------------------------------------------------------------------
    def _held(self, now: int) -> bool:
        return arbiter.live_session(self.session, now) is not None or (
            arbiter.live_reservation(self.reservation, now) is not None
        )

    def _patrol_state(self, now: int) -> str | None:
        p = self._patrol
        if p is None:
            return None
        if self._held(now):
            return "paused"
        if p.plan.profile is not None and not p.plan.profile.allows(now):
            return "waiting"
        return "running"

    def _state(self) -> DomeState:
        now = self.clock()
        s = arbiter.live_session(self.session, now)
        p = self._patrol
        return DomeState(
            holder=s.actor if s else None,
            priority=s.priority if s else None,
            until_ms=s.until_ms if s else None,
            reservation=arbiter.live_reservation(self.reservation, now),
            patrol=p.plan if p else None,
            patrol_state=self._patrol_state(now),
            patrol_step=p.step if p else None,
            idle_home_s=self.idle_home_s,
            moving=self._move_deadline is not None,
        )

    def state(self) -> DomeState:
        return self._state()

    # --- the background task -----------------------------------------------------------------------------
    def _start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name=f"ptz-{self.camera_id}")

    async def close(self) -> None:
        self._closed = True
        await cancel_and_wait(self._task)
        self._task = None
        closer = getattr(self.driver, "aclose", None)  # a driver holding a connection (OnvifDome)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()

    def _next_deadline(self, now: int) -> int | None:
        times: list[int] = []
        if self._move_deadline is not None:
            times.append(self._move_deadline)
        if self.session is not None:
            times.append(self.session.until_ms)
        if self.reservation is not None and self.reservation.until_ms > now:
            times.append(self.reservation.until_ms)
        state = self._patrol_state(now)
        if self._patrol is not None and state == "running":
            times.append(self._patrol.next_ms)
        elif self._patrol is not None and state == "waiting":
            times.append(now + 30_000)  # look at the time profile again
        if self.idle_home_s > 0 and not self._home_done and state != "running":
            times.append(self._last_activity + self.idle_home_s * 1000)
        return min(times) if times else None

    async def _run(self) -> None:
        while True:
            try:
                async with self._lock:
                    await self._tick()
                    deadline = self._next_deadline(self.clock())
                    self._wake.clear()  # inside the lock: a command after it wakes the next wait
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("camera %s: PTZ upkeep failed", self.camera_id)
                deadline = self.clock() + 1000
            timeout = None if deadline is None else max(0.0, (deadline - self.clock()) / 1000)
            # asyncio.wait, not wait_for: on Python 3.11 a cancellation arriving while wait_for gives
            # up on a timeout can be lost, leaving close() waiting for ever.
            waiter = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=timeout)
            finally:
                waiter.cancel()

    async def _tick(self) -> None:
        now = self.clock()
        if self._move_deadline is not None and self._move_deadline <= now:
            self._move_deadline = None
            try:  # the dead-man: no refresh from the joystick (a lost client)
                await self._call("a stop", self.driver.stop())
            except DeviceError as e:
                log.warning("camera %s: the dead-man stop failed: %s", self.camera_id, e)
            holder = self.session.actor if self.session else SYSTEM
            await self.audit(holder, "ptz.deadman_stop", "ok", {"deadman_s": self.deadman_s}, None)
        ended = self._end_expired(now)
        if ended is not None:
            details = {"reason": "timeout", "commands": ended.commands, "priority": ended.priority}
            await self.audit(ended.actor, "ptz.session_end", "ok", details, None)
            self._touch(now)
            if self._patrol is not None:
                self._patrol.next_ms = now  # resume at once
        if self.reservation is not None and self.reservation.until_ms <= now:
            self.reservation = None
            self._touch(now)
            if self._patrol is not None:
                self._patrol.next_ms = now
        state = self._patrol_state(now)
        p = self._patrol
        if p is not None and state == "running" and p.next_ms <= now:
            token, dwell = p.plan.steps[p.step % len(p.plan.steps)]
            try:
                await self._call("a patrol step", self.driver.goto_preset(token))
            except DeviceError as e:
                log.warning("camera %s: patrol %r step %d failed: %s", self.camera_id, p.plan.name, p.step, e)
            p.step = (p.step + 1) % len(p.plan.steps)
            p.next_ms = now + int(dwell * 1000)
            self._last_activity = now
            self._home_done = False
            return
        if (self.idle_home_s > 0 and not self._home_done and state != "running" and not self._held(now)
                and now >= self._last_activity + self.idle_home_s * 1000):  # fmt: skip
            self._home_done = True
            try:
                await self._call("a home command", self.driver.home())
                await self.audit(SYSTEM, "ptz.idle_home", "ok", {"idle_s": self.idle_home_s}, None)
            except DeviceError as e:
                log.warning("camera %s: the idle return home failed: %s", self.camera_id, e)


def _clamp(v: float, lo_hi: tuple[float, float]) -> float:
    return min(max(v, lo_hi[0]), lo_hi[1])
