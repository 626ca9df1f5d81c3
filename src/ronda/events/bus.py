"""The event bus: publish/subscribe between roles (recorder, rules, alarms, notifications, WebSocket).

``Bus`` is the interface; :class:`InProcessBus` is the one-box implementation (asyncio queues, one
consumer task per subscriber). A NATS JetStream implementation can replace it for many nodes: the
contract is the same — at-least-once delivery to every subscriber, so handlers are idempotent by the
message key (``event:17``, ``alarm:42:5``); the bus drops repeats it has already delivered to a
subscriber.

Messages are the typed values of :mod:`ronda.events.messages` (:class:`~ronda.events.messages.Event`,
:class:`~ronda.events.messages.AlarmChanged`): consumers read fields, never parse JSON. A bus between
processes serialises them with ``message_to_json``/``message_from_json`` of that module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ronda.events.messages import Message

log = logging.getLogger(__name__)

Handler = Callable[[Message], Awaitable[None]]


class Bus(Protocol):
    def subscribe(self, name: str, handler: Handler) -> None: ...

    async def publish(self, msg: Message) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...


def message_key(msg: Message) -> str:
    return msg.key


@dataclass
class _Subscriber:
    name: str
    handler: Handler
    queue: asyncio.Queue[Message]
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    task: asyncio.Task[None] | None = None
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    duplicates: int = 0


class InProcessBus:
    """Every subscriber gets every message, in order, from its own queue and task."""

    def __init__(self, max_queue: int = 200_000, retries: int = 3, retry_delay_s: float = 0.05,
                 remember: int = 20_000) -> None:  # fmt: skip
        self.max_queue = max_queue
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self.remember = remember
        self._subs: dict[str, _Subscriber] = {}
        self._running = False

    def subscribe(self, name: str, handler: Handler) -> None:
        if name in self._subs:
            raise ValueError(f"subscriber {name!r} exists")
        sub = _Subscriber(name, handler, asyncio.Queue(self.max_queue))
        self._subs[name] = sub
        if self._running:
            sub.task = asyncio.create_task(self._consume(sub), name=f"bus-{name}")

    def unsubscribe(self, name: str) -> None:
        sub = self._subs.pop(name, None)
        if sub is not None and sub.task is not None:
            sub.task.cancel()

    async def publish(self, msg: Message) -> None:
        self.publish_nowait(msg)

    def publish_nowait(self, msg: Message) -> None:
        for sub in self._subs.values():
            try:
                sub.queue.put_nowait(msg)
            except asyncio.QueueFull:
                sub.dropped += 1
                if sub.dropped in (1, 100) or sub.dropped % 10_000 == 0:
                    log.error("bus: subscriber %s is %d messages behind; dropped %d", sub.name,
                              sub.queue.qsize(), sub.dropped)  # fmt: skip

    async def start(self) -> None:
        self._running = True
        for sub in self._subs.values():
            if sub.task is None:
                sub.task = asyncio.create_task(self._consume(sub), name=f"bus-{sub.name}")

    async def stop(self) -> None:
        self._running = False
        tasks = [s.task for s in self._subs.values() if s.task is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for s in self._subs.values():
            s.task = None

    async def drain(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queue is empty (tests, clean shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(not s.queue.empty() for s in self._subs.values()):
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def stats(self) -> dict[str, Any]:
        return {
            s.name: {
                "queued": s.queue.qsize(),
                "delivered": s.delivered,
                "failed": s.failed,
                "dropped": s.dropped,
                "duplicates": s.duplicates,
            }  # fmt: skip
            for s in self._subs.values()
        }

    async def _consume(self, sub: _Subscriber) -> None:
        while True:
            msg = await sub.queue.get()
            key = message_key(msg)
            if key in sub.seen:
                sub.duplicates += 1
                continue
            for attempt in range(self.retries + 1):
                try:
                    await sub.handler(msg)
                    sub.delivered += 1
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if attempt == self.retries:
                        sub.failed += 1
                        log.exception("bus: %s failed on %s after %d attempts", sub.name, key, attempt + 1)
                    else:
                        await asyncio.sleep(self.retry_delay_s * 2**attempt)
            sub.seen[key] = None
            if len(sub.seen) > self.remember:
                sub.seen.popitem(last=False)
