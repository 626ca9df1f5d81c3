"""Bus -> WebSocket clients: each message serialised once, delivered to the clients allowed to see it.

A client's rights are re-read every few seconds (``refresh``), so withdrawing a right or disabling the
user takes effect on a live connection too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ronda.events.bus import Bus, Message

MAX_BACKLOG = 20_000  # messages a slow client may lag before it is disconnected


@dataclass(eq=False)
class Client:
    allowed: Callable[[Message], bool | Message]
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(MAX_BACKLOG))
    overflowed: bool = False


class Fanout:
    def __init__(self, bus: Bus) -> None:
        self.clients: set[Client] = set()
        bus.subscribe("websocket", self.handle)

    def add(self, allowed: Callable[[Message], bool | Message]) -> Client:
        c = Client(allowed)
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
                    text = json.dumps(_wire(msg), separators=(",", ":"))
                out = text
            else:  # a copy shaped for this client (e.g. a redacted alarm)
                out = json.dumps(_wire(verdict), separators=(",", ":"))
            try:
                c.queue.put_nowait(out)
            except asyncio.QueueFull:
                c.overflowed = True  # the connection handler closes it (the client reconnects and catches up)


def _wire(msg: Message) -> dict[str, Any]:
    if msg.get("kind") == "alarm":
        return {"kind": "alarm", "change": msg.get("change"), "alarm": msg["alarm"]}
    return {"kind": msg.get("kind"), "event": msg.get("event")}
