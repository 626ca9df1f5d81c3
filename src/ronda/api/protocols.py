"""uvicorn's HTTP and WebSocket protocols with the limits a server on a public network needs and
uvicorn does not have: how long a client may take to send a request's headers, how many connections
one address may hold, and how long a WebSocket peer may refuse to take data.

- Slow headers (slowloris): uvicorn arms no timer before a request's headers are complete, on a new
  connection or on the next request of a kept-alive one, so a client sending a byte now and then
  holds a connection (a file descriptor, a slot) for ever. Here the headers must be complete within
  ``header_timeout_s`` of the connection (or of the first byte of the next request); else the client
  gets a 408 and the connection is closed. A request body is the application's to read: not covered.
- Connections per address: many such sockets from one address cannot exhaust the process's file
  descriptors; a connection over ``per_ip`` is closed at once. Behind a reverse proxy every client
  has the proxy's address: connections from ``http.trusted_proxies`` are not limited (limit at the
  proxy), and ``http.max_connections_per_ip: 0`` turns the limit off.
- A WebSocket peer that stops reading: uvicorn waits for the transport to drain before every send
  for as long as it takes, and closes a connection only once its buffer is flushed, so a peer that
  never reads holds the connection and the application's send for ever. Here a send that cannot go
  out for ``ws_write_stall_s`` aborts the connection (and the application's send raises, as for any
  disconnected client); so does a peer that does not answer the keep-alive ping.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections import Counter
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger(__name__)
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class Limits:
    """The settings and the per-address connection counts one server's protocols share."""

    def __init__(self, header_timeout_s: float = 10.0, per_ip: int = 256, ws_write_stall_s: float = 10.0,
                 unlimited: list[str] | None = None) -> None:  # fmt: skip
        self.header_timeout_s = header_timeout_s
        self.per_ip = per_ip  # 0: no limit
        self.unlimited = [ipaddress.ip_network(n, strict=False) for n in unlimited or []]  # trusted proxies
        self.ws_write_stall_s = ws_write_stall_s
        self.open: Counter[str] = Counter()
        self.refused = 0
        self.timed_out = 0

    def admit(self, transport: Any) -> str | None:
        """Count a new connection; None (and close it) when its address holds too many already."""
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if self.per_ip and self.open[ip] >= self.per_ip and not self._unlimited(ip):
            self.refused += 1
            if self.refused == 1 or self.refused % 100 == 0:
                log.warning("refused a connection from %s: %d open already (%d refused so far)", ip,
                            self.open[ip], self.refused)  # fmt: skip
            transport.abort()
            return None
        self.open[ip] += 1
        return ip

    def _unlimited(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in n for n in self.unlimited)

    def release(self, ip: str | None) -> None:
        if ip is None:
            return
        self.open[ip] -= 1
        if self.open[ip] <= 0:
            del self.open[ip]


def reset(transport: Any) -> None:
    """Drop a connection now, with a TCP reset: a plain close of a socket whose peer does not read
    leaves the kernel holding (and retrying) its unsent buffer, megabytes per connection, for minutes."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def protocols(limits: Limits) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
    """(HTTP protocol class, WebSocket protocol class) for ``uvicorn.Config(http=..., ws=...)``."""

    class GuardedWebSocket(WebSocketsSansIOProtocol):
        _ip: str | None = None
        _counted = False

        def connection_lost(self, exc: Exception | None) -> None:
            if self._counted:
                self._counted = False
                limits.release(self._ip)
            super().connection_lost(exc)

        async def send(self, message: Any) -> None:
            if not self.writable.is_set():
                try:
                    await asyncio.wait_for(self.writable.wait(), limits.ws_write_stall_s)
                except TimeoutError:
                    # The peer has taken nothing for that long: drop it. abort(), not close(): close()
                    # would wait for the peer to read what is buffered, which it does not.
                    log.info("WebSocket %s: peer stopped reading for %.0f s; disconnected",
                             self.client, limits.ws_write_stall_s)  # fmt: skip
                    reset(self.transport)
                    raise ClientDisconnected() from None
            await super().send(message)

        def keepalive_timeout(self) -> None:
            super().keepalive_timeout()  # sends a close frame and closes: but close() waits for the
            reset(self.transport)  # buffer to drain, and a peer that does not answer pings will not read

    base: Any = AutoHTTPProtocol

    class GuardedHttp(base):
        _ip: str | None = None
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            self._ip = limits.admit(transport)
            if self._ip is None:
                self.transport = transport
                return
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._ip is None:
                return
            if self._deadline is None and self._awaiting_headers():
                self._arm()  # the first bytes of the next request on a kept-alive connection
            super().data_received(data)
            upgraded = self.transport.get_protocol()
            if upgraded is not self:  # now a WebSocket (set up synchronously in super().data_received)
                self._disarm()
                if isinstance(upgraded, GuardedWebSocket):  # the connection's count goes with it
                    upgraded._ip, upgraded._counted = self._ip, True  # noqa: SLF001
                else:
                    limits.release(self._ip)
                self._ip = None
            elif not self._awaiting_headers():
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._ip is None:
                return
            limits.release(self._ip)
            self._ip = None
            super().connection_lost(exc)

        def _awaiting_headers(self) -> bool:
            cycle = self.cycle
            return cycle is None or cycle.response_complete

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(limits.header_timeout_s, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            t = self.transport
            if t.is_closing() or t.get_protocol() is not self or not self._awaiting_headers():
                return
            limits.timed_out += 1
            t.write(REQUEST_TIMEOUT)
            t.close()

    return GuardedHttp, GuardedWebSocket
