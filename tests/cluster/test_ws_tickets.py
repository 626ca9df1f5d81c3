"""WebSocket tickets shared by the API nodes of a site (``access/tickets.py``), on SQLite and on a real
PostgreSQL: a ticket issued through one node's database connection is redeemed through another's, once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ronda.access.tickets import SharedTicketBook
from ronda.access.tokens import Binding, token_hash
from ronda.store.access_models import WsTicket
from ronda.store.db import Database
from tests.pg import BACKENDS, empty_database


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path: Path):
    d = empty_database(request, tmp_path)
    d.upgrade()
    d.dispose()
    return d.url


def test_a_ticket_from_one_node_is_redeemed_once_on_another(url: str) -> None:
    a, b = Database(url), Database(url)  # two API nodes: two engines on one database
    try:
        binding = Binding(user_id=7, session_id="s" * 32, token_version=3)
        ticket = SharedTicketBook(a).issue(binding)
        with a.session() as s:  # only the hash is stored
            assert s.get(WsTicket, token_hash(ticket)) is not None
            assert all(ticket not in str(v) for v in vars(s.get(WsTicket, token_hash(ticket))).values())
        assert SharedTicketBook(b).redeem(ticket) == binding
        assert SharedTicketBook(a).redeem(ticket) is None  # single use, on any node
        key = Binding(user_id=8, api_key_id=5)
        assert SharedTicketBook(b).redeem(SharedTicketBook(a).issue(key)) == key
        for bad in ("", "x" * 201, "not-a-ticket"):
            assert SharedTicketBook(b).redeem(bad) is None
    finally:
        a.dispose()
        b.dispose()


def test_an_expired_ticket_is_refused_and_swept(url: str) -> None:
    d = Database(url)
    try:
        t = [1_000_000]
        book = SharedTicketBook(d, clock=lambda: t[0])
        old = book.issue(Binding(user_id=1, api_key_id=1))
        t[0] += 30_001
        assert book.redeem(old) is None
        old2 = book.issue(Binding(user_id=1, api_key_id=1))
        t[0] += 30_001
        book.issue(Binding(user_id=1, api_key_id=1))  # issuing sweeps the expired rows
        with d.session() as s:
            assert s.get(WsTicket, token_hash(old2)) is None
    finally:
        d.dispose()


def test_two_nodes_redeeming_one_ticket_at_once_get_it_once(url: str) -> None:
    nodes = [Database(url) for _ in range(4)]
    try:
        start = threading.Barrier(len(nodes))  # all four ask at the same moment (it resets each round)
        for _ in range(5):
            ticket = SharedTicketBook(nodes[0]).issue(Binding(user_id=2, api_key_id=9))
            got: list[Binding | None] = []

            def redeem(d: Database, ticket: str = ticket, got: list[Binding | None] = got) -> None:
                start.wait()
                got.append(SharedTicketBook(d).redeem(ticket))

            threads = [threading.Thread(target=redeem, args=(d,)) for d in nodes]
            for th in threads:
                th.start()
            for th in threads:
                th.join(30)
            assert sum(g is not None for g in got) == 1, got
    finally:
        for d in nodes:
            d.dispose()
