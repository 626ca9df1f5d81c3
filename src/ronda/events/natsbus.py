"""The event bus between the nodes of a site: NATS JetStream behind the :class:`~ronda.events.bus.Bus`
interface (docs/cluster.md#event-bus-nats-jetstream).

Subjects: ``ronda.<site>.event.<camera id or "site">.<type>`` and ``ronda.<site>.alarm.<alarm id>``, in
one stream per site, created or updated at start. Every message is the JSON of
:func:`~ronda.events.messages.message_to_json` with the message key as ``Nats-Msg-Id``: JetStream drops a
repeat within the duplicate window (a relay retrying after a lost acknowledgement, two relays racing).

Consumers are durable pull consumers:

- a *queue* consumer (``rules``, ``notify``, ``mqtt``) is one per site, shared by every node that runs it:
  each message is handled by one node;
- a *per-node* consumer (``websocket``) is one per node: every API node gets every message.

A handler that raises gets the message again (negative acknowledgement with a growing delay, up to
``max_deliver`` deliveries); a message is acknowledged only after its handler returned. Handlers stay
idempotent by key, and each consumer also drops keys it has handled recently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ronda.config import NatsConfig
from ronda.events.bus import Handler
from ronda.events.messages import AlarmChanged, Event, Message, message_from_json, message_to_json
from ronda.tasks import cancel_and_wait

log = logging.getLogger(__name__)

QUEUE_CONSUMERS = frozenset({"rules", "notify", "mqtt"})  # once per site
PER_NODE_CONSUMERS = frozenset({"websocket"})  # once per node
ENTRY_HEADER = "Ronda-Alarm-Entry"  # an alarm message's history entry (part of its key, not of its JSON)
MSG_ID = "Nats-Msg-Id"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class BusUnavailable(Exception):
    """NATS did not take the message (down, unreachable, or the stream refused it)."""


class MessageTooLarge(ValueError):
    pass


def token(text: str) -> str:
    """One subject token: anything but letters, digits, ``_`` and ``-`` becomes ``_`` (a ``.``, ``*``
    or ``>`` in a site name or event type would otherwise change the subject's shape)."""
    return _UNSAFE.sub("_", text)[:64] or "_"


def subject(site: str, msg: Message) -> str:
    if isinstance(msg, AlarmChanged):
        return f"ronda.{token(site)}.alarm.{msg.alarm.id}"
    where = "site" if msg.camera is None else str(msg.camera)
    return f"ronda.{token(site)}.event.{where}.{token(msg.type)}"


def stream_name(cfg: NatsConfig, site: str) -> str:
    return cfg.stream or f"RONDA_{token(site)}"


def encode(msg: Message, max_bytes: int) -> tuple[bytes, dict[str, str]]:
    data = json.dumps(message_to_json(msg), separators=(",", ":")).encode()
    if len(data) > max_bytes:
        raise MessageTooLarge(f"{msg.key}: {len(data)} bytes, more than nats.max_message_bytes ({max_bytes})")
    headers = {MSG_ID: msg.key}
    if isinstance(msg, AlarmChanged):
        headers[ENTRY_HEADER] = str(msg.entry_id)
    return data, headers


def decode(data: bytes, headers: dict[str, str] | None) -> Message:
    msg = message_from_json(json.loads(data))
    if isinstance(msg, AlarmChanged):
        entry = int((headers or {}).get(ENTRY_HEADER, "0"))
        msg = AlarmChanged(msg.alarm, msg.change, entry)
    return msg


@dataclass
class _Consumer:
    name: str
    handler: Handler
    durable: str
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    task: asyncio.Task[None] | None = None
    delivered: int = 0
    failed: int = 0
    duplicates: int = 0
    dropped: int = 0


Connect = Callable[..., Awaitable[Any]]


class NatsBus:
    """``consume`` names the subscribers that run on this node (by role); the others are accepted and
    never fed (an API node's rules engine is there for the API's use, not to handle events)."""

    def __init__(self, cfg: NatsConfig, site: str, node: str, consume: frozenset[str], remember: int = 20_000,
                 max_pending: int = 100_000) -> None:  # fmt: skip
        self.cfg = cfg
        self.site = site
        self.node = node
        self.consume = consume
        self.stream = stream_name(cfg, site)
        self.remember = remember
        self._subs: dict[str, _Consumer] = {}
        self._nc: Any = None
        self._js: Any = None
        self._ready = asyncio.Event()
        self._running = False
        self._connector: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        # Messages published with ``publish`` (alarm steps) wait here, in order, while NATS is away.
        self._outgoing: asyncio.Queue[Message] = asyncio.Queue(max_pending)
        self.published = 0
        self.publish_failures = 0
        self.dropped_outgoing = 0

    # -- the Bus interface ---------------------------------------------------------------------------

    def subscribe(self, name: str, handler: Handler) -> None:
        if name in self._subs:
            raise ValueError(f"subscriber {name!r} exists")
        if name not in self.consume:
            return
        durable = f"{name}-{token(self.node)}" if name in PER_NODE_CONSUMERS else name
        c = _Consumer(name, handler, durable)
        self._subs[name] = c
        if self._running:
            c.task = asyncio.create_task(self._consume(c), name=f"nats-{name}")

    async def publish(self, msg: Message) -> None:
        """Queue ``msg`` for sending; never waits for NATS (an operator's action must not hang while the
        bus is away). The queue is sent in order as soon as NATS takes messages again; it lives in this
        process's memory (bounded): what must survive a crash goes through the outbox
        (:meth:`publish_confirmed`)."""
        try:
            self._outgoing.put_nowait(msg)
        except asyncio.QueueFull:
            self.dropped_outgoing += 1
            log.error("nats bus: %d messages wait for NATS; dropped %s", self._outgoing.qsize(), msg.key)

    async def publish_confirmed(self, msg: Message, timeout_s: float = 5.0) -> None:
        """Send ``msg`` and wait for JetStream's acknowledgement; :class:`BusUnavailable` when it did
        not come (the caller keeps the message and retries: the Msg-Id makes a repeat harmless)."""
        data, headers = encode(msg, self.cfg.max_message_bytes)
        js = self._js
        if js is None or not self._nc.is_connected:
            raise BusUnavailable("not connected to NATS")
        try:
            ack = await js.publish(subject(self.site, msg), data, timeout=timeout_s, stream=self.stream,
                                   headers=headers)  # fmt: skip
        except Exception as e:
            self.publish_failures += 1
            raise BusUnavailable(f"{type(e).__name__}: {e}") from None
        if not ack.duplicate:
            self.published += 1

    async def start(self) -> None:
        self._running = True
        self._connector = asyncio.create_task(self._connect_loop(), name="nats-connect")
        self._sender = asyncio.create_task(self._send_loop(), name="nats-send")
        for c in self._subs.values():
            if c.task is None:
                c.task = asyncio.create_task(self._consume(c), name=f"nats-{c.name}")

    async def stop(self) -> None:
        self._running = False
        tasks = [c.task for c in self._subs.values()]
        for c in self._subs.values():
            c.task = None
        for t in [*tasks, self._sender, self._connector]:
            await cancel_and_wait(t)
        if self._nc is not None:
            # No drain: what was fetched and not acknowledged comes again (to this node's successor or
            # another node of the queue), and a drain would wait for consumers that are gone.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), 5)
        self._nc = self._js = None
        self._ready.clear()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            c.name: {
                "queued": 0,
                "delivered": c.delivered,
                "failed": c.failed,
                "dropped": c.dropped,
                "duplicates": c.duplicates,
            }  # fmt: skip
            for c in self._subs.values()
        }
        out["nats"] = {
            "connected": bool(self._nc is not None and self._nc.is_connected),
            "stream": self.stream,
            "published": self.published,
            "publish_failures": self.publish_failures,
            "waiting": self._outgoing.qsize(),
            "dropped": self.dropped_outgoing,
        }
        return out

    # -- the outbox's resume point ---------------------------------------------------------------------

    async def last_event_id(self) -> int | None:
        """The id of the newest event in the stream (where a relay that starts resumes), None when the
        stream holds no event. Waits for NATS."""
        await self._ready.wait()
        from nats.js.errors import NotFoundError

        try:
            raw = await self._js.get_last_msg(self.stream, f"ronda.{token(self.site)}.event.>")
        except NotFoundError:
            return None
        msg = decode(raw.data, raw.headers)
        return msg.id if isinstance(msg, Event) else None

    async def wait_ready(self) -> None:
        await self._ready.wait()

    # -- inside --------------------------------------------------------------------------------------

    async def _connect_loop(self) -> None:
        """Connect (again and again while NATS is away at start), then make sure the stream exists. The
        client reconnects by itself after that."""
        import nats

        delay = 0.5
        while True:
            try:
                opts: dict[str, Any] = {
                    "servers": list(self.cfg.servers),
                    "name": f"ronda-{token(self.node)}",
                    "max_reconnect_attempts": -1,
                    "reconnect_time_wait": 0.5,
                    "connect_timeout": 2,
                    "allow_reconnect": True,
                    "error_cb": self._on_error,
                    "disconnected_cb": self._on_disconnect,
                    "reconnected_cb": self._on_reconnect,
                }
                if self.cfg.credentials_file is not None:
                    opts["user_credentials"] = str(self.cfg.credentials_file)
                self._nc = await nats.connect(**opts)
                self._js = self._nc.jetstream()
                await self._ensure_stream()
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("nats bus: cannot connect to %s (%s); retrying", ", ".join(self.cfg.servers), e)
                if self._nc is not None:
                    with contextlib.suppress(Exception):
                        await self._nc.close()
                    self._nc = self._js = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)
        log.info("nats bus: connected; stream %s", self.stream)
        self._ready.set()

    async def _ensure_stream(self) -> None:
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        config = StreamConfig(
            name=self.stream,
            subjects=[f"ronda.{token(self.site)}.>"],
            storage=StorageType.FILE,
            duplicate_window=self.cfg.duplicate_window_seconds,
            max_age=self.cfg.max_age_hours * 3600,
            max_msg_size=self.cfg.max_message_bytes,
        )
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._js.add_stream(config)
            return
        await self._js.update_stream(config)

    async def _on_error(self, e: Exception) -> None:
        log.debug("nats bus: %s", e)

    async def _on_disconnect(self) -> None:
        if self._running:  # not our own close at stop
            log.warning("nats bus: disconnected; reconnecting")

    async def _on_reconnect(self) -> None:
        log.info("nats bus: reconnected")

    async def _send_loop(self) -> None:
        while True:
            msg = await self._outgoing.get()
            delay = 0.2
            while True:
                await self._ready.wait()
                try:
                    await self.publish_confirmed(msg)
                    break
                except MessageTooLarge as e:
                    log.error("nats bus: not sent: %s", e)
                    break
                except BusUnavailable as e:
                    if delay == 0.2:
                        log.warning("nats bus: %s not sent (%s); retrying until NATS takes it", msg.key, e)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)

    async def _consume(self, c: _Consumer) -> None:
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        await self._ready.wait()
        config = ConsumerConfig(
            name=c.durable,
            durable_name=c.durable,
            filter_subject=f"ronda.{token(self.site)}.>",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW,
            ack_wait=self.cfg.ack_wait_seconds,
            max_deliver=self.cfg.max_deliver,
            max_ack_pending=1000,
            # A node that is gone for good leaves its per-node consumer behind: NATS removes it.
            inactive_threshold=86_400.0 if c.name in PER_NODE_CONSUMERS else None,
        )
        psub: Any = None
        while psub is None:
            try:
                # Created, or updated when the configuration changed (ack_wait, max_deliver).
                await self._js.add_consumer(self.stream, config=config)
                psub = await self._js.pull_subscribe_bind(durable=c.durable, stream=self.stream)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("nats bus: consumer %s not ready (%s); retrying", c.durable, e)
                await asyncio.sleep(1)
        failing = False
        while True:
            try:
                batch = await psub.fetch(100, timeout=1)
                failing = False
            except (NatsTimeout, TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as e:  # disconnected: the client reconnects; the durable consumer keeps our place
                if not failing:
                    log.warning("nats bus: %s cannot fetch (%s); retrying", c.durable, e)
                failing = True
                await asyncio.sleep(0.5)
                continue
            for m in batch:
                await self._deliver(c, m)

    async def _deliver(self, c: _Consumer, m: Any) -> None:
        if len(m.data) > self.cfg.max_message_bytes:
            c.dropped += 1
            log.error("nats bus: %s: dropped a message of %d bytes (more than nats.max_message_bytes)", c.name,
                      len(m.data))  # fmt: skip
            await _quiet(m.term())
            return
        try:
            msg = decode(m.data, m.headers)
        except Exception as e:  # not ours, or from an incompatible version: never retried
            c.dropped += 1
            log.error("nats bus: %s: dropped an unreadable message on %s: %s", c.name, m.subject, e)
            await _quiet(m.term())
            return
        key = msg.key
        if key in c.seen:
            c.duplicates += 1
            await _quiet(m.ack())
            return
        try:
            await c.handler(msg)
        except asyncio.CancelledError:
            raise
        except Exception:
            c.failed += 1
            n = m.metadata.num_delivered if m.metadata is not None else 1
            log.exception("nats bus: %s failed on %s (delivery %d); it comes again", c.name, key, n)
            await _quiet(m.nak(delay=min(0.5 * 2 ** (n - 1), 30)))
            return
        c.delivered += 1
        c.seen[key] = None
        if len(c.seen) > self.remember:
            c.seen.popitem(last=False)
        await _quiet(m.ack())


async def _quiet(aw: Awaitable[Any]) -> None:
    """An acknowledgement that cannot be sent now (NATS away) is not an error: the message comes again
    after ``ack_wait`` and the consumer's memory of keys drops it."""
    with contextlib.suppress(Exception):
        await aw
