"""Every dome of the site: a caller's priority, the controllers, what is stored (presets' names,
settings, reservations, patrols) and its audit, and the rules' ``ptz_preset`` action.

Rights are declared on the routes (``api/deps.py``); here a caller's PTZ priority is
``Permissions.ptz_level(camera, now)`` (None: no ``ptz`` right now, ``Forbidden``). Stored changes
write their audit entry in their own transaction (``AuditLog.record``); commands change nothing
stored and are appended (``AuditLog.append``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ronda.access.audit import AuditLog
from ronda.access.service import Principal
from ronda.config import PtzConfig
from ronda.devices.ptz import PtzPosition
from ronda.errors import Conflict, Forbidden, NotFound
from ronda.ptz import repository as repo
from ronda.ptz.arbiter import Reservation, live_reservation
from ronda.ptz.controller import Command, DomeController, DomeState, PatrolPlan
from ronda.ptz.drivers import Drivers
from ronda.ptz.errors import DomeBusy, NoPtz, PatrolUnknown, PresetUnknown, PtzInvalid
from ronda.store.db import Database
from ronda.store.ptz_models import PtzCamera, PtzPatrol
from ronda.timeutil import now_ms

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_PATROLS = 32  # per dome
MAX_STEPS = 64


@dataclass(frozen=True, slots=True)
class PresetInfo:
    token: str
    name: str


@dataclass(frozen=True, slots=True)
class DomeView:
    state: DomeState
    position: PtzPosition | None


@dataclass(frozen=True, slots=True)
class PatrolInfo:
    id: int
    name: str
    steps: list[dict[str, Any]]
    time_profile_id: int | None
    running: bool


class PtzService:
    def __init__(self, cfg: PtzConfig, db: Database, audit: AuditLog, drivers: Drivers,
                 clock: Callable[[], int] = now_ms) -> None:  # fmt: skip
        self.cfg = cfg
        self.db = db
        self.audit = audit
        self.drivers = drivers
        self.clock = clock
        self._domes: dict[int, DomeController] = {}
        self._making = asyncio.Lock()

    # --- domes ---------------------------------------------------------------------------------------
    def has_ptz(self, camera_id: int) -> bool:
        """Whether the camera can be steered (the rules' check; no I/O beyond the database)."""
        return self.drivers.get(camera_id) is not None

    async def dome(self, camera_id: int) -> DomeController:
        d = self._domes.get(camera_id)
        if d is not None:
            return d
        async with self._making:
            other = self._domes.get(camera_id)
            if other is not None:
                return other
            made, plan = await asyncio.to_thread(self._make, camera_id)
            self._domes[camera_id] = made
            if plan is not None:  # a patrol that was running when the process stopped
                made.set_patrol(plan)
            return made

    def _make(self, camera_id: int) -> tuple[DomeController, PatrolPlan | None]:
        driver = self.drivers.get(camera_id)
        if driver is None:
            raise NoPtz(camera_id)
        with self.db.session() as s:
            row = repo.settings(s, camera_id)
            running = repo.patrol(s, camera_id, row.patrol_id) if row is not None and row.patrol_id else None
            plan = repo.plan(s, running) if running is not None else None
            dome = DomeController(
                camera_id, driver, self._sink(camera_id), session_timeout_s=self.cfg.session_timeout_seconds,
                deadman_s=self.cfg.deadman_seconds, command_timeout_s=self.cfg.command_timeout_seconds,
                idle_home_s=row.idle_home_s if row is not None else 0, reservation=repo.reservation_of(row),
                clock=self.clock,
            )  # fmt: skip
        return dome, plan

    def _sink(self, camera_id: int) -> Callable[[str, str, str, dict[str, Any], str | None], Awaitable[None]]:
        async def write(actor: str, action: str, result: str, details: dict[str, Any], ip: str | None) -> None:
            await asyncio.to_thread(self.audit.append, actor, action, result, camera_id=camera_id, source_ip=ip,
                                    details=details)  # fmt: skip

        return write

    async def start(self) -> None:
        """Resume the patrols that were running when the process stopped."""

        def running() -> list[int]:
            with self.db.session() as s:
                return list(s.scalars(select(PtzCamera.camera_id).where(PtzCamera.patrol_id.is_not(None))))

        for cid in await asyncio.to_thread(running):
            try:
                await self.dome(cid)
            except NotFound:
                log.warning("camera %s: its patrol cannot run: the camera has no PTZ control now", cid)

    async def close(self) -> None:
        for d in list(self._domes.values()):
            await d.close()
        self._domes.clear()

    async def forget(self, camera_id: int) -> None:
        """The camera was edited or deleted: its dome stops being steered (sessions, patrol in memory) and
        its driver is built again on next use (a stored patrol resumes then)."""
        async with self._making:
            dome = self._domes.pop(camera_id, None)
            self.drivers.forget(camera_id)
        if dome is not None:
            await dome.close()

    # --- callers ----------------------------------------------------------------------------------------
    def level(self, caller: Principal, camera_id: int) -> int:
        lvl = caller.permissions.ptz_level(camera_id, self.clock())
        if lvl is None:
            raise Forbidden("the 'ptz' right on this camera is needed")
        return lvl

    async def _preset_tokens(self, dome: DomeController) -> dict[str, str]:
        presets = await dome._call("a preset list", dome.driver.presets())
        return {p.token: p.name for p in presets}

    async def resolve_preset(self, camera_id: int, preset: str) -> str:
        """A preset's token from its token or its name (Ronda's name first, then the camera's)."""
        dome = await self.dome(camera_id)
        tokens = await self._preset_tokens(dome)
        if preset in tokens:
            return preset
        names = await asyncio.to_thread(self._names, camera_id)
        for token in tokens:
            if names.get(token) == preset:
                return token
        for token, name in tokens.items():
            if name == preset and token not in names:
                return token
        raise PresetUnknown(preset)

    def _names(self, camera_id: int) -> dict[str, str]:
        with self.db.session() as s:
            return repo.preset_names(s, camera_id)

    # --- commands -------------------------------------------------------------------------------------------
    async def command(self, caller: Principal, camera_id: int, cmd: Command) -> DomeState:
        priority = self.level(caller, camera_id)
        dome = await self.dome(camera_id)
        if cmd.action == "preset":
            assert cmd.preset is not None
            tokens = await self._preset_tokens(dome)
            if cmd.preset not in tokens:
                raise PresetUnknown(cmd.preset)
        return await dome.command(caller.actor, priority, cmd, caller.source_ip)

    async def view(self, camera_id: int) -> DomeView:
        dome = await self.dome(camera_id)
        return DomeView(dome.state(), await dome.position())

    # --- presets --------------------------------------------------------------------------------------------
    async def presets(self, camera_id: int) -> list[PresetInfo]:
        dome = await self.dome(camera_id)
        tokens = await self._preset_tokens(dome)
        names = await asyncio.to_thread(self._names, camera_id)
        return [PresetInfo(t, names.get(t) or n or t) for t, n in tokens.items()]

    async def create_preset(self, caller: Principal, camera_id: int, name: str) -> PresetInfo:
        priority = self.level(caller, camera_id)
        dome = await self.dome(camera_id)
        details = {"action": "preset_create", "name": name}

        async def save() -> str:
            return await dome._call("a preset save", dome.driver.set_preset(name))

        token = await dome.with_dome(caller.actor, priority, details, caller.source_ip, save)

        def store() -> None:
            with self.db.session() as s:
                repo.set_preset_name(s, camera_id, token, name)
                self._record(s, caller, camera_id, "ptz.preset_create", {"token": token, "name": name})

        await asyncio.to_thread(store)
        return PresetInfo(token, name)

    async def rename_preset(self, caller: Principal, camera_id: int, token: str, name: str) -> PresetInfo:
        self.level(caller, camera_id)
        dome = await self.dome(camera_id)
        tokens = await self._preset_tokens(dome)
        if token not in tokens:
            raise PresetUnknown(token)

        def store() -> None:
            with self.db.session() as s:
                old = repo.preset_names(s, camera_id).get(token) or tokens[token]
                repo.set_preset_name(s, camera_id, token, name)
                self._record(s, caller, camera_id, "ptz.preset_rename", {"token": token, "from": old, "name": name})

        await asyncio.to_thread(store)
        return PresetInfo(token, name)

    async def delete_preset(self, caller: Principal, camera_id: int, token: str) -> None:
        priority = self.level(caller, camera_id)
        dome = await self.dome(camera_id)
        if token not in await self._preset_tokens(dome):
            raise PresetUnknown(token)

        async def remove() -> None:
            await dome._call("a preset removal", dome.driver.remove_preset(token))

        await dome.with_dome(caller.actor, priority, {"action": "preset_delete", "token": token},
                             caller.source_ip, remove)  # fmt: skip

        def store() -> None:
            with self.db.session() as s:
                repo.forget_preset(s, camera_id, token)
                self._record(s, caller, camera_id, "ptz.preset_delete", {"token": token})

        await asyncio.to_thread(store)

    async def set_home(self, caller: Principal, camera_id: int) -> None:
        priority = self.level(caller, camera_id)
        dome = await self.dome(camera_id)

        async def work() -> None:
            await dome._call("a set-home command", dome.driver.set_home())

        await dome.with_dome(caller.actor, priority, {"action": "set_home"}, caller.source_ip, work)
        await self._append(caller, camera_id, "ptz.set_home", {})

    def _record(self, s: Any, caller: Principal, camera_id: int, action: str, details: dict[str, Any]) -> None:
        self.audit.record(s, caller.actor, action, "ok", camera_id=camera_id, source_ip=caller.source_ip,
                          details=details)  # fmt: skip

    async def _append(self, caller: Principal, camera_id: int, action: str, details: dict[str, Any]) -> None:
        await asyncio.to_thread(self.audit.append, caller.actor, action, "ok", camera_id=camera_id,
                                source_ip=caller.source_ip, details=details)  # fmt: skip

    # --- settings and reservations -----------------------------------------------------------------------
    async def set_idle_home(self, caller: Principal, camera_id: int, seconds: int) -> DomeState:
        dome = await self.dome(camera_id)

        def store() -> None:
            with self.db.session() as s:
                row = repo.settings(s, camera_id, create=True)
                assert row is not None
                old, row.idle_home_s, row.updated_ms = row.idle_home_s, seconds, now_ms()
                self._record(s, caller, camera_id, "ptz.settings", {"idle_home_s": seconds, "from": old})

        await asyncio.to_thread(store)
        dome.set_idle_home(seconds)
        return dome.state()

    async def reserve(self, caller: Principal, camera_id: int, minutes: int) -> DomeState:
        priority = self.level(caller, camera_id)
        dome = await self.dome(camera_id)
        dome.check_free(caller.actor, priority)  # a higher holder or reservation: 409
        res = Reservation(caller.actor, priority, self.clock() + minutes * 60_000)

        def store() -> None:
            with self.db.session() as s:
                row = repo.settings(s, camera_id, create=True)
                assert row is not None
                row.reserved_by, row.reserved_priority, row.reserved_until_ms = res.actor, res.priority, res.until_ms
                row.updated_ms = now_ms()
                details = {"minutes": minutes, "priority": priority, "until_ms": res.until_ms}
                self._record(s, caller, camera_id, "ptz.reserve", details)

        await asyncio.to_thread(store)
        await dome.set_reservation(res)
        return dome.state()

    async def cancel_reservation(self, caller: Principal, camera_id: int) -> DomeState:
        priority = self.level(caller, camera_id)
        dome = await self.dome(camera_id)
        res = live_reservation(dome.reservation, self.clock())
        if res is None:
            raise NotFound(message="the dome is not reserved")
        if res.actor != caller.actor and priority < res.priority:
            raise Forbidden(f"the reservation of {res.actor} can be cancelled by them or a higher priority")

        def store() -> None:
            with self.db.session() as s:
                row = repo.settings(s, camera_id, create=True)
                assert row is not None
                row.reserved_by = row.reserved_priority = row.reserved_until_ms = None
                row.updated_ms = now_ms()
                self._record(s, caller, camera_id, "ptz.reservation_cancel", {"reserved_by": res.actor})

        await asyncio.to_thread(store)
        await dome.set_reservation(None)
        return dome.state()

    # --- patrols -------------------------------------------------------------------------------------------
    def _info(self, row: PtzPatrol, running_id: int | None) -> PatrolInfo:
        return PatrolInfo(row.id, row.name, list(row.steps), row.time_profile_id, row.id == running_id)

    async def patrols(self, camera_id: int) -> list[PatrolInfo]:
        dome = await self.dome(camera_id)
        running = dome.patrol.id if dome.patrol else None

        def read() -> list[PatrolInfo]:
            with self.db.session() as s:
                return [self._info(r, running) for r in repo.patrols(s, camera_id)]

        return await asyncio.to_thread(read)

    async def _check_steps(self, camera_id: int, steps: list[dict[str, Any]]) -> None:
        dome = await self.dome(camera_id)
        tokens = await self._preset_tokens(dome)
        for i, st in enumerate(steps):
            if st["preset"] not in tokens:
                raise PtzInvalid(f"steps[{i}].preset: the dome has no preset {st['preset']!r}")

    async def save_patrol(self, caller: Principal, camera_id: int, patrol_id: int | None, name: str,
                          steps: list[dict[str, Any]], time_profile_id: int | None) -> PatrolInfo:  # fmt: skip
        """Create (``patrol_id`` None) or replace a patrol."""
        await self._check_steps(camera_id, steps)
        dome = await self.dome(camera_id)

        def store() -> tuple[PatrolInfo, Any]:
            with self.db.session() as s:
                if time_profile_id is not None and not repo.profile_exists(s, time_profile_id):
                    raise PtzInvalid(f"time_profile_id: no time profile {time_profile_id}")
                other = repo.patrol_named(s, camera_id, name)
                if other is not None and other.id != patrol_id:
                    raise Conflict(f"the dome has a patrol named {name!r}")
                if patrol_id is None:
                    if repo.count_patrols(s, camera_id) >= MAX_PATROLS:
                        raise PtzInvalid(f"a dome may have at most {MAX_PATROLS} patrols")
                    row = repo.add_patrol(s, camera_id, name, steps, time_profile_id, caller.actor)
                    action = "ptz.patrol_create"
                else:
                    found = repo.patrol(s, camera_id, patrol_id)
                    if found is None:
                        raise PatrolUnknown()
                    row = found
                    row.name, row.steps, row.time_profile_id, row.updated_ms = name, steps, time_profile_id, now_ms()
                    s.flush()
                    action = "ptz.patrol_update"
                self.audit.record(s, caller.actor, action, "ok", camera_id=camera_id, source_ip=caller.source_ip,
                                  details={"patrol": row.id, "name": name, "steps": len(steps)})  # fmt: skip
                running = dome.patrol.id if dome.patrol else None
                return self._info(row, running), repo.plan(s, row)

        try:
            info, plan = await asyncio.to_thread(store)
        except IntegrityError:
            raise Conflict(f"the dome has a patrol named {name!r}") from None
        if dome.patrol is not None and dome.patrol.id == info.id:
            dome.set_patrol(plan)  # the running patrol follows its new steps
        return info

    async def delete_patrol(self, caller: Principal, camera_id: int, patrol_id: int) -> None:
        dome = await self.dome(camera_id)

        def store() -> None:
            with self.db.session() as s:
                row = repo.patrol(s, camera_id, patrol_id)
                if row is None:
                    raise PatrolUnknown()
                name = row.name
                s.delete(row)
                settings = repo.settings(s, camera_id)
                if settings is not None and settings.patrol_id == patrol_id:
                    settings.patrol_id = None
                self._record(s, caller, camera_id, "ptz.patrol_delete", {"patrol": patrol_id, "name": name})

        await asyncio.to_thread(store)
        if dome.patrol is not None and dome.patrol.id == patrol_id:
            dome.set_patrol(None)

    async def start_patrol(self, caller: Principal, camera_id: int, patrol_id: int) -> DomeState:
        priority = self.level(caller, camera_id)
        dome = await self.dome(camera_id)
        dome.check_free(caller.actor, priority)

        def store() -> Any:
            with self.db.session() as s:
                row = repo.patrol(s, camera_id, patrol_id)
                if row is None:
                    raise PatrolUnknown()
                settings = repo.settings(s, camera_id, create=True)
                assert settings is not None
                settings.patrol_id, settings.updated_ms = patrol_id, now_ms()
                self._record(s, caller, camera_id, "ptz.patrol_start", {"patrol": patrol_id, "name": row.name})
                return repo.plan(s, row)

        plan = await asyncio.to_thread(store)
        await dome.release(caller.actor)  # the caller hands the dome to the patrol
        dome.set_patrol(plan)
        return dome.state()

    async def stop_patrol(self, caller: Principal, camera_id: int) -> DomeState:
        self.level(caller, camera_id)
        dome = await self.dome(camera_id)
        current = dome.patrol
        if current is None:
            raise NotFound(message="no patrol is running on this dome")

        def store() -> None:
            with self.db.session() as s:
                settings = repo.settings(s, camera_id, create=True)
                assert settings is not None
                settings.patrol_id, settings.updated_ms = None, now_ms()
                self._record(s, caller, camera_id, "ptz.patrol_stop", {"patrol": current.id, "name": current.name})

        await asyncio.to_thread(store)
        dome.set_patrol(None)
        return dome.state()

    # --- the rules' action ----------------------------------------------------------------------------
    async def rule_preset(self, camera_id: int, preset: str, priority: int, rule: str) -> None:
        """Send the dome to ``preset`` (token or name) for rule ``rule`` at ``priority``: as a user of that
        priority named ``rule:<name>``; refused (logged and audited) under a higher holder."""
        token = await self.resolve_preset(camera_id, preset)
        dome = await self.dome(camera_id)
        try:
            await dome.command(f"rule:{rule}"[:200], priority, Command("preset", preset=token))
        except DomeBusy as e:
            log.info("rule %s: dome %s not moved to %s: %s", rule, camera_id, preset, e)
