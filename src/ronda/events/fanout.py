"""Bus -> WebSocket clients: each message serialised once (``message_to_json``, the WebSocket's wire
format), delivered to the clients allowed to see it.

A client's rights are re-read every few seconds (``refresh``), so withdrawing a right or disabling the
user takes effect on a live connection too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from ronda.events.bus import Bus
from ronda.events.messages import Message, message_to_json

MAX_BACKLOG = 20_000  # messages a slow client may lag before it is disconnected
# ... and their size: an event may carry 8 KiB of payload, so the count alone would let one client
# that stopped reading hold ~200 MB. Bursts of ordinary events (a few hundred bytes) fit either way.
MAX_BACKLOG_BYTES = 8 << 20


class TextQueue(asyncio.Queue[str | None]):
    """A client's queue that keeps the size of what it holds (``queued_bytes``)."""

    def __init__(self, maxsize: int = MAX_BACKLOG) -> None:
        super().__init__(maxsize)
        self.queued_bytes = 0

    # asyncio.Queue routes every put and get (waiting or not) through these two.
    def _put(self, item: str | None) -> None:
        self.queued_bytes += len(item) if item else 0
        super()._put(item)

    def _get(self) -> str | None:
        item: str | None = super()._get()
        self.queued_bytes -= len(item) if item else 0
        return item


@dataclass(eq=False)
class Client:
    allowed: Callable[[Message], bool | Message]
    queue: TextQueue = field(default_factory=TextQueue)
    overflowed: bool = False
    max_bytes: int = MAX_BACKLOG_BYTES

    def offer(self, text: str) -> None:
        """Queue ``text``, or mark the client overflowed when its backlog is full (the connection handler
        then closes it; the client reconnects and catches up)."""
        if self.overflowed:
            return
        if self.queue.queued_bytes + len(text) > self.max_bytes:
            self.overflowed = True
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed = True


class Fanout:
    def __init__(self, bus: Bus) -> None:
        self.clients: set[Client] = set()
        bus.subscribe("websocket", self.handle)

    def add(self, allowed: Callable[[Message], bool | Message], max_bytes: int = MAX_BACKLOG_BYTES) -> Client:
        c = Client(allowed, max_bytes=max_bytes)
        self.clients.add(c)
        return c

    def remove(self, c: Client) -> None:
        self.clients.discard(c)

    async def handle(self, msg: Message) -> None:
        if not self.clients:
            return
        text: str | None = None
        for c in list(self.clients):
            if c.overflowed:
                continue
            verdict = c.allowed(msg)
            if verdict is False:
                continue
            if verdict is True:
                if text is None:
                    text = json.dumps(message_to_json(msg), separators=(",", ":"))
                out = text
            else:  # a copy shaped for this client (e.g. a redacted alarm)
                out = json.dumps(message_to_json(verdict), separators=(",", ":"))
            c.offer(out)
