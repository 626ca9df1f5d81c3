"""WebSocket tickets every API node of a site can redeem (docs/cluster.md, "Roles").

The single box keeps its tickets in memory (``tokens.TicketBook``). Behind a load balancer the browser asks
one API node for a ticket and opens the socket on another, so a site with a ``cluster`` section keeps them
in the database instead: random, only their SHA-256 stored, 30 seconds, single use (the row is deleted by
the statement that reads it, so two nodes cannot both redeem one ticket).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Protocol

from ronda.access.tokens import TICKET_TTL_S, Binding, token_hash
from ronda.store import repos
from ronda.store.access_models import WsTicket
from ronda.store.db import Database
from ronda.timeutil import now_ms


class Tickets(Protocol):
    def issue(self, value: Binding) -> str: ...

    def redeem(self, ticket: str) -> Binding | None: ...


class SharedTicketBook:
    """``TicketBook[Binding]``'s interface over the ``ws_tickets`` table."""

    def __init__(self, db: Database, ttl_s: float = TICKET_TTL_S, clock: Callable[[], int] = now_ms) -> None:
        self.db = db
        self.ttl_ms = int(ttl_s * 1000)
        self._clock = clock

    def issue(self, value: Binding) -> str:
        ticket = secrets.token_urlsafe(32)
        now = self._clock()
        row = WsTicket(hash=token_hash(ticket), user_id=value.user_id, session_id=value.session_id,
                       token_version=value.token_version, api_key_id=value.api_key_id,
                       expires_ms=now + self.ttl_ms)  # fmt: skip
        with self.db.session() as s:
            repos.add_ws_ticket(s, row, now)
        return ticket

    def redeem(self, ticket: str) -> Binding | None:
        """The binding the first time a live ticket is presented (on any node); None ever after."""
        if not isinstance(ticket, str) or not ticket or len(ticket) > 200:
            return None
        with self.db.session() as s:
            row = repos.take_ws_ticket(s, token_hash(ticket))
            if row is None or row.expires_ms <= self._clock():
                return None
            return Binding(row.user_id, row.session_id, row.token_version, row.api_key_id)
