"""The rules engine: every event from the bus, through the enabled rules, to their actions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import or_, select

from ronda.access.rights import TimeProfile, load_permissions
from ronda.events.alarms import AlarmManager
from ronda.events.bus import Bus
from ronda.events.messages import Event, Message
from ronda.events.rule_scope import check_author
from ronda.events.rules import (
    MAX_CHAIN,
    Action,
    AddBookmark,
    Matcher,
    Notify,
    PtzPreset,
    RaiseAlarm,
    RuleError,
    RuleSpec,
    Webhook,
    chain_of,
    render,
)
from ronda.events.store import EventWriter, NewEvent, events_by_ids
from ronda.store import access_models as am
from ronda.store import claims_repo, cooldowns_repo
from ronda.store.db import Database
from ronda.store.event_models import Rule
from ronda.store.models import Bookmark, Camera
from ronda.timeutil import now_ms

log = logging.getLogger(__name__)
# (url, sealed secret, payload, idempotency key): the events service's sender
WebhookSender = Callable[[str, str, dict[str, Any], str], Coroutine[Any, Any, Any]]
ACTION_LEASE_S = 300.0  # longer than a webhook's whole retry schedule (5 tries, Retry-After capped at 60 s)
# (the event, the rendered title, the action): the notifier's ``notify_event``
EventNotifier = Callable[[Event, str, Notify], Coroutine[Any, Any, Any]]


class _Unavailable(Exception):
    """An action whose service does not run in this process (PTZ control, the notification channels): a
    configuration state, logged in one line and recorded as the claim's outcome."""


class PtzActions(Protocol):
    """The PTZ service as the rules see it (``ronda.ptz.service.PtzService``). ``ronda.runtime`` installs it
    on the engine: ``events`` sits below ``ptz`` in the layers and never imports it."""

    def has_ptz(self, camera_id: int) -> bool: ...

    async def rule_preset(self, camera_id: int, preset: str, priority: int, rule: str) -> None:
        """Send the dome to the preset (token or name) at ``priority``, as the user ``rule:<rule>``."""


@dataclass
class _Loaded:
    id: int
    name: str
    spec: RuleSpec
    group_cameras: set[int] = field(default_factory=set)
    profile: TimeProfile | None = None
    last_fired: dict[int | None, float] = field(default_factory=dict)
    matcher: Matcher | None = None  # compiled once here, used for every event


def validate_against_site(db: Database, spec: RuleSpec, author_id: int | None, ptz: PtzActions | None = None) -> None:
    """Refuse what the site or the author cannot back: unknown cameras/groups/profile, PTZ without
    PTZ (``ptz``: the PTZ service, None when it does not run), actions about cameras the author cannot
    see. ``author_id`` None = the system (default rules)."""
    with db.session() as s:
        cams = set(s.scalars(select(Camera.id).where(Camera.deleted_ms.is_(None))))
        wanted: set[int] = set(spec.trigger.cameras or [])
        for a in spec.actions:
            if isinstance(a, RaiseAlarm):
                wanted |= set(a.related_cameras)
            if isinstance(a, PtzPreset):
                wanted.add(a.camera)
        unknown = sorted(wanted - cams)
        if unknown:
            raise RuleError(f"unknown camera(s): {', '.join(map(str, unknown))}")
        if spec.trigger.groups:
            groups = set(s.scalars(select(am.CameraGroup.id).where(am.CameraGroup.id.in_(spec.trigger.groups))))
            missing = sorted(set(spec.trigger.groups) - groups)
            if missing:
                raise RuleError(f"unknown camera group(s): {', '.join(map(str, missing))}")
        pid = spec.conditions.time_profile_id
        if pid is not None:
            row = s.get(am.TimeProfile, pid)
            if row is None:
                raise RuleError(f"conditions.time_profile_id: no time profile {pid}")
            try:
                TimeProfile.parse(row.timezone, row.rules)
            except ValueError as e:
                raise RuleError(f"conditions.time_profile_id: time profile {pid} is malformed: {e}") from None
        for a in spec.actions:
            if isinstance(a, PtzPreset) and (ptz is None or not ptz.has_ptz(a.camera)):
                raise RuleError(f"ptz_preset: camera {a.camera} has no PTZ control")
            if isinstance(a, RaiseAlarm | Notify):
                roles = a.notify_roles if isinstance(a, RaiseAlarm) else a.roles
                known = set(s.scalars(select(am.Role.name)))
                bad = sorted(set(roles) - known)
                if bad:
                    raise RuleError(f"unknown role(s) to notify: {', '.join(bad)}")
                orgs = a.notify_organisations if isinstance(a, RaiseAlarm) else a.organisations
                known_orgs = set(s.scalars(select(am.Organisation.name)))
                bad = sorted(set(orgs) - known_orgs)
                if bad:
                    raise RuleError(f"unknown organisation(s) to notify: {', '.join(bad)}")
            if isinstance(a, Notify):
                if not (a.users or a.roles or a.organisations):
                    raise RuleError("notify: say who to notify (users, roles or organisations)")
                known_users = set(s.scalars(select(am.User.username).where(am.User.username.in_(a.users))))
                bad = sorted(set(a.users) - known_users)
                if bad:
                    raise RuleError(f"unknown user(s) to notify: {', '.join(bad)}")
        if author_id is None:
            return
        perms = load_permissions(s, author_id)
        if not perms.has_global("manage_rules", now_ms()):
            raise RuleError("the manage_rules right is needed")
        # A rule must not reach further than its author (alarms about, and notifications with snapshots
        # of, other cameras; events of a group's cameras): rule_scope decides, as for reading rules.
        check_author(s, perms, spec)
        if not perms.site_scope:  # an organisation's author notifies its own people only
            for a in spec.actions:
                if not isinstance(a, Notify):
                    continue
                own = perms.organisation_id
                q = select(am.User.username).where(am.User.username.in_(a.users))
                foreign = sorted(set(s.scalars(q.where(or_(am.User.organisation_id.is_(None),
                                                            am.User.organisation_id != own)))))  # fmt: skip
                org_names = set(s.scalars(select(am.Organisation.name).where(am.Organisation.id == own)))
                foreign += sorted(set(a.organisations) - org_names)
                if foreign:
                    raise RuleError(f"you may not notify {foreign[0]} (not your organisation)")


class RulesEngine:
    def __init__(self, db: Database, bus: Bus, alarms: AlarmManager, writer: EventWriter,
                 webhook: WebhookSender | None = None, node: str = "local",
                 lease_s: float = ACTION_LEASE_S) -> None:  # fmt: skip
        self.db = db
        self.node = node  # who holds a claim (cluster.node)
        self.lease_s = lease_s  # a running claim older than this is taken over
        self.bus = bus
        self.alarms = alarms
        self.writer = writer
        self.webhook = webhook
        self.notify: EventNotifier | None = None  # set when the notification channels are available
        self.ptz: PtzActions | None = None  # set by the runtime when domes can be steered
        self.rules: list[_Loaded] = []
        self._states: dict[int, str] = {}
        self._states_at = 0.0
        self._names: dict[int, str] = {}
        self.fired = 0
        self.loops_stopped = 0
        self.claimed_elsewhere = 0  # actions skipped: another node (or an earlier delivery) claimed them
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        await self.reload()
        self.bus.subscribe("rules", self.handle)

    async def reload(self) -> None:
        self.rules = await asyncio.to_thread(self._load)

    def _load(self) -> list[_Loaded]:
        out = []
        with self.db.session() as s:
            for r in s.scalars(select(Rule).where(Rule.enabled.is_(True)).order_by(Rule.id)):
                try:
                    spec = RuleSpec.model_validate(
                        {"name": r.name, "trigger": r.trigger, "conditions": r.conditions, "actions": r.actions}
                    )
                except ValueError as e:
                    log.error("rule %s (%s) is invalid and skipped: %s", r.id, r.name, e)
                    continue
                loaded = _Loaded(r.id, r.name, spec)
                if spec.trigger.groups:
                    loaded.group_cameras = set(
                        s.scalars(
                            select(am.CameraGroupMember.camera_id).where(
                                am.CameraGroupMember.group_id.in_(spec.trigger.groups)
                            )
                        )
                    )
                pid = spec.conditions.time_profile_id
                if pid is not None:
                    row = s.get(am.TimeProfile, pid)
                    loaded.profile = TimeProfile.parse(row.timezone, row.rules) if row else None
                # Compiled off the event loop (this runs in a thread), once per load, not per event.
                loaded.matcher = Matcher(spec.trigger, loaded.group_cameras)
                out.append(loaded)
        return out

    def camera_names(self) -> dict[int, str]:
        return self._names

    def _refresh_cameras(self) -> None:
        with self.db.session() as s:
            rows = s.execute(select(Camera.id, Camera.name, Camera.status, Camera.enabled)).all()
        self._names = {r.id: r.name for r in rows}
        self._states = {r.id: (r.status if r.enabled else "disabled") for r in rows}
        self._states_at = time.monotonic()

    async def handle(self, msg: Message) -> None:
        if not isinstance(msg, Event) or not self.rules:
            return
        ev = msg
        chain = chain_of(ev)
        age = time.monotonic() - self._states_at
        # a camera added since the last read: its name now (a deleted one's events: at most 5 reads a second)
        unknown = age > 0.2 and any(c not in self._names for c in ev.all_cameras())
        if unknown or age > 2.0:
            await asyncio.to_thread(self._refresh_cameras)
        for rule in self.rules:
            spec = rule.spec
            if rule.id in chain or len(chain) >= MAX_CHAIN:
                self.loops_stopped += 1
                continue
            matcher = rule.matcher or Matcher(spec.trigger, rule.group_cameras)
            if not matcher(ev):
                continue
            t = now_ms()
            if rule.profile is not None and not rule.profile.allows(t):
                continue
            cam = ev.camera
            states = spec.conditions.camera_states
            if states is not None and (cam is None or self._states.get(cam) not in states):
                continue
            cd = spec.conditions.cooldown_s
            if cd:
                if time.monotonic() - rule.last_fired.get(cam, -1e9) < cd:
                    continue  # this node fired it: no need to ask the database
                if not await asyncio.to_thread(self._cooldown_over, rule.id, cam, ev.key, cd):
                    continue  # another events node fired it
                rule.last_fired[cam] = time.monotonic()
            self.fired += 1
            await self._run_actions(rule, ev, [*chain, rule.id])

    async def _run_actions(self, rule: _Loaded, ev: Event, chain: list[int]) -> None:
        for index, action in enumerate(rule.spec.actions):
            try:
                if isinstance(action, RaiseAlarm):  # the alarm manager is idempotent by event itself
                    done = await self.alarms.on_event(ev, rule.id, action)
                    if done is not None and done[1] == "created":  # rules may act on new alarms, never loop
                        await self._emit("alarm.raised", ev, {"alarm": done[0], "rule": rule.id}, chain)
                elif isinstance(action, AddBookmark):
                    # The bookmark and its claim in one transaction: exactly once, even across a crash.
                    if not await asyncio.to_thread(self._bookmark, rule, action, ev, index):
                        self.claimed_elsewhere += 1
                elif isinstance(action, Webhook) and self.webhook is None:
                    continue
                else:
                    c = await asyncio.to_thread(self._claim, rule.id, ev.key, index)
                    if c is None:  # another node runs it, or ran it (a redelivered message)
                        self.claimed_elsewhere += 1
                        continue
                    await self._run_claimed(rule, action, ev, c)
            except _Unavailable as e:  # a service this node does not run: one line, no traceback
                log.error("rule %s: cannot run %s on event %s: %s", rule.name, action.type, ev.id, e)
            except Exception:
                log.exception("rule %s: action %s failed on event %s", rule.name, action.type, ev.id)

    async def _run_claimed(self, rule: _Loaded, action: Action, ev: Event, c: claims_repo.Claim) -> None:
        """Run one action this node holds the claim of, and record its outcome (at once, or when its task
        ends: a webhook or a dome must not hold up the other rules)."""
        try:
            if isinstance(action, Webhook):
                assert self.webhook is not None
                payload = {"rule": rule.name, "event": ev.to_json()}  # the webhook's JSON
                self._spawn(self._finish_when(c, self.webhook(action.url, action.secret, payload, idempotency_key(c))))
            elif isinstance(action, PtzPreset):
                if self.ptz is None:
                    raise _Unavailable("PTZ control is not running")
                move = self.ptz.rule_preset(action.camera, action.preset, action.priority, rule.name)
                self._spawn(self._finish_when(c, move))
            elif isinstance(action, Notify):
                if self.notify is None:
                    raise _Unavailable("the notification channels are not installed")
                await self.notify(ev, render(action.title, ev, self._names, rule.id)[:300], action)
                await asyncio.to_thread(self._finish, c, None)
            else:  # never claimed as running (a bookmark's claim is done in its own transaction)
                raise RuntimeError(f"{action.type} is not run through a claim")
        except Exception as e:
            await asyncio.to_thread(self._finish, c, f"{type(e).__name__}: {e}")
            raise

    async def _finish_when(self, c: claims_repo.Claim, work: Coroutine[Any, Any, Any]) -> None:
        error: str | None = None
        try:
            res = await work
            if getattr(res, "ok", True) is False:  # a webhook's DeliveryResult
                error = str(getattr(res, "error", None) or "failed")
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
            log.error("rules: action %s of rule %s on %s failed: %s", c.action, c.rule_id, c.key, error)
        try:
            await asyncio.to_thread(self._finish, c, error)
        except Exception as e:  # the database is away: the claim stays running and is taken over later
            log.warning("rules: the outcome of action %s of rule %s on %s was not recorded: %s", c.action,
                        c.rule_id, c.key, e)  # fmt: skip

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cooldown_over(self, rule_id: int, camera: int | None, key: str, cooldown_s: int) -> bool:
        """The rule may fire for ``camera`` on the message ``key``: shared by every events node."""
        with self.db.session() as s:
            return cooldowns_repo.take(s, f"rule:{rule_id}:{camera}", now_ms(), cooldown_s * 1000, key)

    def _claim(self, rule_id: int, key: str, index: int) -> claims_repo.Claim | None:
        with self.db.session() as s:
            return claims_repo.claim(s, rule_id, key, index, self.node, now_ms(), int(self.lease_s * 1000))

    def _finish(self, c: claims_repo.Claim, error: str | None) -> None:
        with self.db.session() as s:
            claims_repo.finish(s, c, "failed" if error else "done", now_ms(), error)

    async def recover_stale(self) -> int:
        """Run again the actions whose node died while running them (a ``running`` claim older than the
        lease): this node takes the claim over, then runs the action as the dead node would have (a
        webhook with the same Idempotency-Key). Returns how many it took over."""
        found = await asyncio.to_thread(self._stale)
        by_id = {r.id: r for r in self.rules}
        taken = 0
        for rule_id, key, index in found:
            c = await asyncio.to_thread(self._take_over, rule_id, key, index)
            if c is None:
                continue  # another node was faster, or the holder finished meanwhile
            taken += 1
            rule = by_id.get(rule_id)
            ev = await asyncio.to_thread(self._event, key)
            if rule is None or ev is None or index >= len(rule.spec.actions):
                await asyncio.to_thread(self._finish, c, "the rule or the event is gone")
                continue
            log.warning("rules: action %d of rule %s on %s was left running (node gone?): running it again",
                        index, rule.name, key)  # fmt: skip
            try:
                await self._run_claimed(rule, rule.spec.actions[index], ev, c)
            except _Unavailable as e:
                log.error("rule %s: cannot run action %d again on %s: %s", rule.name, index, key, e)
            except Exception:
                log.exception("rule %s: action %d failed again on %s", rule.name, index, key)
        return taken

    def _stale(self) -> list[tuple[int, str, int]]:
        with self.db.session() as s:
            return claims_repo.stale(s, now_ms(), int(self.lease_s * 1000))

    def _take_over(self, rule_id: int, key: str, index: int) -> claims_repo.Claim | None:
        with self.db.session() as s:
            return claims_repo.take_over(s, rule_id, key, index, self.node, now_ms(), int(self.lease_s * 1000))

    def _event(self, key: str) -> Event | None:
        kind, _, num = key.partition(":")
        if kind != "event" or not num.isdigit():
            return None
        views = events_by_ids(self.db, [int(num)])
        return Event.from_json(views[0]) if views else None

    async def _emit(self, etype: str, cause: Event, payload: dict[str, Any], chain: list[int]) -> None:
        """An event produced by an action: it carries the chain of rules, so no rule loops on it."""
        await self.writer.submit([NewEvent(etype, now_ms(), cause.camera, list(cause.cameras) or None, "info",
                                           "system", {**payload, "rule_chain": chain})])  # fmt: skip

    def _bookmark(self, rule: _Loaded, action: AddBookmark, ev: Event, index: int) -> bool:
        """Add the bookmark unless another node claimed this action: True when this node did (or had
        nothing to mark)."""
        cam = ev.camera
        if cam is None or ev.time_ms is None:
            return True
        t = ev.time_ms
        with self.db.session() as s:
            lease_ms = int(self.lease_s * 1000)
            if claims_repo.claim(s, rule.id, ev.key, index, self.node, now_ms(), lease_ms, status="done") is None:
                return False
            s.add(Bookmark(camera_id=cam, start_ms=t - action.pre_s * 1000, end_ms=t + action.post_s * 1000,
                           title=render(action.title, ev, self._names, rule.id)[:200], note=f"rule: {rule.name}",
                           created_by=f"rule:{rule.name}"[:200], created_ms=now_ms()))  # fmt: skip
        return True


def idempotency_key(c: claims_repo.Claim) -> str:
    """The webhook's ``Idempotency-Key``: the message, the rule and the action's index (``event:17:3:0``),
    the same on every node and every retry."""
    return f"{c.key}:{c.rule_id}:{c.action}"


def install_default_rules(db: Database) -> int:
    """The rules that ship enabled (camera offline, storage low, server clock jumped), once: returns how many
    were added."""
    from ronda.events.rules import DEFAULT_RULES

    added = 0
    with db.session() as s:
        names = set(s.scalars(select(Rule.name)))
        for d in DEFAULT_RULES:
            if d["name"] in names:
                continue
            spec = RuleSpec.model_validate(d)
            s.add(Rule(name=spec.name, enabled=True, trigger=spec.trigger.model_dump(exclude_none=True),
                       conditions=spec.conditions.model_dump(exclude_none=True),
                       actions=[a.model_dump(exclude_none=True) for a in spec.actions], created_by="system",
                       created_ms=now_ms()))  # fmt: skip
            added += 1
    return added


__all__ = [
    "ACTION_LEASE_S",
    "PtzActions",
    "RulesEngine",
    "idempotency_key",
    "install_default_rules",
    "validate_against_site",
]
