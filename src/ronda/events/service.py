"""The events role, assembled: bus, event writer, outbox relay, rules, alarms, notifications and the
WebSocket fan-out. ``ronda serve`` starts one :class:`EventsService`.

With ``cfg.nats`` unset the bus is in-process and every part runs here, whatever the roles (a single
box). With NATS the roles decide (docs/cluster.md#event-bus-nats-jetstream): an ``events`` node relays
the outbox and runs rules, alarm escalation, notifications and event retention; an ``api`` node feeds its
WebSocket clients. Every node keeps the parts the API calls (the event writer, the alarm manager, the
rules list).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from ronda.access.audit import AuditLog
from ronda.access.netguard import Allowance
from ronda.access.secrets import SecretBox
from ronda.config import Config
from ronda.events.alarms import AlarmManager
from ronda.events.bus import Bus, InProcessBus
from ronda.events.engine import RulesEngine, install_default_rules
from ronda.events.fanout import Fanout
from ronda.events.store import EventWriter, OutboxRelay, delete_old_events
from ronda.store import claims_repo
from ronda.store.db import Database
from ronda.store.event_models import Rule
from ronda.store.models import Event
from ronda.tasks import cancel_and_wait
from ronda.timeutil import now_ms

log = logging.getLogger(__name__)
RECOVERY_S = 30.0  # how often an events node looks for rule actions a dead node left running
RULES_REFRESH_S = 5.0  # with NATS: how soon a rule changed through an API node applies on the events nodes


class EventsService:
    def __init__(self, cfg: Config, db: Database, audit: AuditLog | None, secrets: SecretBox | None = None,
                 roles: frozenset[str] = frozenset({"events", "api"})) -> None:  # fmt: skip
        self.cfg = cfg
        self.secrets = secrets  # opens the sealed webhook secrets of rules
        self.db = db
        # The parts of the events role run here: always on one box; with NATS only on events nodes.
        self.runs_events = cfg.nats is None or "events" in roles
        self.bus: Bus
        node = cfg.cluster.node if cfg.cluster is not None else socket.gethostname() or "local"
        if cfg.nats is None:
            self.bus = InProcessBus()
            self.relay = OutboxRelay(db, self.bus)
        else:
            from ronda.events.natsbus import PER_NODE_CONSUMERS, QUEUE_CONSUMERS, NatsBus

            consume = (QUEUE_CONSUMERS if "events" in roles else frozenset()) | (
                PER_NODE_CONSUMERS if "api" in roles else frozenset()
            )
            nats = NatsBus(cfg.nats, cfg.site.name, node, consume)
            self.bus = nats
            self.relay = OutboxRelay(db, nats, send=nats.publish_confirmed, resume=nats.last_event_id)
        self.writer = EventWriter(db)
        self.alarms = AlarmManager(db, self.bus, audit, camera_names=lambda: self.engine.camera_names(),
                                   correlate=cfg.events.correlate)  # fmt: skip
        self.engine = RulesEngine(db, self.bus, self.alarms, self.writer, webhook=self._webhook, node=node,
                                  lease_s=cfg.events.action_lease_seconds)  # fmt: skip
        self.fanout = Fanout(self.bus)
        self.notifier: Any = None
        self._retention: asyncio.Task[None] | None = None
        self._rules_refresh: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self.rejected = 0  # malformed external events (HTTP and MQTT)
        self._unhook: Callable[[], None] | None = None

    async def start(self) -> None:
        if self.cfg.events.default_rules and self.runs_events:
            await asyncio.to_thread(self._default_rules)
        await self.engine.start()
        try:
            from ronda.events.dispatch import Notifier

            self.notifier = Notifier(self.cfg, self.db, self.bus, self.writer)
            self.engine.notify = self.notifier.notify_event
            if self.runs_events:  # elsewhere only its public key is used (the API's push subscription)
                await self.notifier.start()
        except ImportError:  # notification channels not installed
            self.notifier = None
        await self.bus.start()
        await self.writer.start()
        if not self.runs_events:
            return
        await self.relay.start()
        # Any event a component of this process stores (the event writer, the recorder, retention,
        # login bursts, ...: all through ``repos.add_events``) is published at once; the relay's poll
        # is left for other processes' events.
        self._unhook = self.db.on_commit_adding(Event, self.relay.poke)
        await self.alarms.start()
        self._retention = asyncio.create_task(self._retention_loop(), name="event-retention")
        every = min(RECOVERY_S, self.cfg.events.action_lease_seconds / 2)
        self._recovery = asyncio.create_task(self._recovery_loop(every), name="rule-action-recovery")
        if self.cfg.nats is not None:
            # Rules are edited through any API node, which reloads only its own copy.
            self._rules_refresh = asyncio.create_task(self._rules_loop(), name="rules-refresh")

    async def stop(self) -> None:
        await cancel_and_wait(self._retention)
        await cancel_and_wait(self._rules_refresh)
        await cancel_and_wait(self._recovery)
        if self._unhook is not None:
            self._unhook()
            self._unhook = None
        await self.alarms.stop()
        await self.relay.stop()
        await self.writer.stop()
        if self.notifier is not None:
            await self.notifier.stop()
        await self.bus.stop()

    def _default_rules(self) -> None:
        with self.db.session() as s:
            if s.scalar(select(func.count()).select_from(Rule)):
                return  # the site has its own rules: never re-add defaults someone deleted
        n = install_default_rules(self.db)
        if n:
            log.info("installed %d default rules", n)

    async def _webhook(self, url: str, secret: str, payload: dict[str, Any], key: str) -> Any:
        from ronda.events.notify.webhook import delivery_id_for, send_webhook

        plain = self.secrets.unseal(secret) if self.secrets is not None else secret
        allow = Allowance.parse(self.cfg.events.allowed_destinations)
        # X-Ronda-Delivery from the site and the key: the same if another node runs the action again
        return await send_webhook(url, plain, payload, allow=allow, idempotency_key=key,
                                  delivery_id=delivery_id_for(self.cfg.site.name, key))  # fmt: skip

    async def _recovery_loop(self, interval_s: float = RECOVERY_S) -> None:
        """Actions a dead node left running are run again once their lease is over (docs/alarms.md)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                n = await self.engine.recover_stale()
                if n:
                    log.warning("rules: took over %d rule actions left running", n)
            except Exception:
                log.exception("taking over rule actions failed")

    def _prune_claims(self, cutoff_ms: int) -> int:
        with self.db.session() as s:
            return claims_repo.prune(s, cutoff_ms)

    async def _rules_loop(self, interval_s: float = RULES_REFRESH_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.engine.reload()
            except Exception:
                log.exception("reloading the rules failed")

    async def _retention_loop(self) -> None:
        while True:
            try:
                cutoff = now_ms() - int(self.cfg.events.retention_days * 86_400_000)
                n = await asyncio.to_thread(delete_old_events, self.db, cutoff)
                if n:
                    log.info("event retention: deleted %d events", n)
                n = await asyncio.to_thread(self._prune_claims, cutoff)
                if n:
                    log.info("event retention: deleted %d rule action claims", n)
            except Exception:
                log.exception("event retention failed")
            await asyncio.sleep(3600)
