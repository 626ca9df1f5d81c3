"""The remote's pushed alarm lines (``ronda.cluster.federation_alarms``): signed per answer and place, only
the peer's granted cameras, pings while quiet, an end after the answer's life; and what a central user's
socket gets of them. The whole path (two ``ronda serve`` sites, a WebSocket at the centre) is in
``test_federation_sites.py``."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ronda.cluster import federation as fed
from ronda.cluster import federation_alarms as fa
from ronda.events.bus import InProcessBus
from ronda.events.fanout import Fanout
from ronda.events.messages import Alarm, AlarmChange, AlarmChanged, AlarmState
from ronda.store.all_models import Base
from ronda.store.db import Database
from ronda.tasks import cancel_and_wait

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key()


def change(alarm_id: int, camera: int, step: AlarmChange = AlarmChange.CREATED) -> AlarmChanged:
    t = 1_700_000_000_000
    a = Alarm(id=alarm_id, state=AlarmState.NEW, priority="high", priority_num=100, category="general",
              title="Dumping at the bins", instructions=None, camera=camera, cameras=(camera,), rule=1,
              incident=f"1:{camera}", owner=None, owner_id=None, pre_alarm_s=10, event_count=1, escalation_level=0,
              first_event_ms=t, last_event_ms=t, created_ms=t, updated_ms=t)  # fmt: skip
    return AlarmChanged(a, step, alarm_id)


def test_a_line_reads_back_only_for_its_answer_place_and_key() -> None:
    line = fa.stream_line(KEY, "n1", 3, {"kind": "alarm", "alarm": 7, "camera": 2})
    assert fa.read_line(PUBLIC, "n1", 3, line.rstrip(b"\n")) == {"seq": 3, "kind": "alarm", "alarm": 7, "camera": 2}
    body = line.rstrip(b"\n")
    with pytest.raises(ValueError):
        fa.read_line(PUBLIC, "n2", 3, body)  # another answer's line
    with pytest.raises(ValueError):
        fa.read_line(PUBLIC, "n1", 4, body)  # out of its place (replayed or reordered)
    with pytest.raises(ValueError):
        fa.read_line(Ed25519PrivateKey.generate().public_key(), "n1", 3, body)  # another site's key
    sig, _, text = body.partition(b" ")
    with pytest.raises(ValueError):
        fa.read_line(PUBLIC, "n1", 3, sig + b" " + text.replace(b'"alarm":7', b'"alarm":8'))  # altered
    for junk in (b"", b"no-space-at-all", b"\xff\xfe \x00", b"x " + text):
        with pytest.raises(ValueError):
            fa.read_line(PUBLIC, "n1", 3, junk)


async def _collect(stream: Any, into: list[dict[str, Any]], nonce: str) -> None:
    seq = 0
    async for line in stream:
        into.append(fa.read_line(PUBLIC, nonce, seq, line.rstrip(b"\n")))
        seq += 1


async def test_the_stream_carries_granted_cameras_pings_and_ends() -> None:
    fanout = Fanout(InProcessBus())
    lines: list[dict[str, Any]] = []
    stream = fa.peer_stream(fanout, lambda cam: cam in {1, 2}, KEY, "nonce", lifetime_s=1.2, ping_s=0.4)
    reader = asyncio.create_task(_collect(stream, lines, "nonce"))
    for _ in range(100):
        if fanout.clients:
            break
        await asyncio.sleep(0.01)
    await fanout.handle(change(10, 1))
    await fanout.handle(change(11, 3))  # not granted: never sent
    await fanout.handle(change(12, 2, AlarmChange.CLOSE))
    await asyncio.wait_for(reader, 5)
    kinds = [x["kind"] for x in lines]
    assert kinds[0] == "hello"
    alarms = [(x["alarm"], x["camera"], x["change"], x["state"]) for x in lines if x["kind"] == "alarm"]
    assert alarms == [(10, 1, "created", "new"), (12, 2, "close", "new")]
    assert {x["priority"] for x in lines if x["kind"] == "alarm"} == {"high"}
    assert kinds.count("ping") >= 2  # 1.2 s of life, a ping every 0.4 s while quiet
    assert "Dumping" not in json.dumps(lines)  # the alarm's text is read through the audited list, not pushed
    assert fanout.clients == set()  # the ended answer leaves the fan-out


def test_a_central_user_hears_only_of_remote_cameras_with_the_alarms_right() -> None:
    mine = {1: frozenset({5, 6})}
    pushed = {
        "kind": "alarm",
        "alarm": 9,
        "camera": 5,
        "state": "new",
        "priority": "high",
        "change": "created",
        "seq": 4,
    }
    want = {
        "kind": "remote_alarm",
        "site": 1,
        "alarm": 9,
        "camera": 5,
        "state": "new",
        "priority": "high",
        "change": "created",
    }
    assert json.loads(fa.user_message(mine, 1, pushed) or "") == want
    assert fa.user_message(mine, 1, {**pushed, "camera": 7}) is None  # a camera without the right
    assert fa.user_message(mine, 2, pushed) is None  # another site
    assert fa.user_message({}, 1, None) is None
    assert json.loads(fa.user_message(mine, 1, None) or "") == {"kind": "remote_alarm", "site": 1, "resync": True}


async def test_the_stream_ends_at_once_when_the_server_stops() -> None:
    """A quiet answer looks every half second whether the server stops, so it does not hold the server's
    graceful shutdown (5 s) until its next line."""
    fanout = Fanout(InProcessBus())
    stopping = False
    lines: list[dict[str, Any]] = []
    stream = fa.peer_stream(fanout, lambda cam: True, KEY, "n", lifetime_s=60, ping_s=10, stopping=lambda: stopping)
    reader = asyncio.create_task(_collect(stream, lines, "n"))
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()
    stopping, asked = True, loop.time()
    await asyncio.wait_for(reader, 5)
    assert loop.time() - asked < 1.0
    assert [x["kind"] for x in lines] == ["hello"]  # no ping before its 10 s: the half-second looks are silent


def test_only_the_values_a_site_may_send_reach_the_users() -> None:
    good = {"alarm": 3, "camera": 2, "state": "new", "priority": "high", "change": "created"}
    assert fa.checked_line({**good, "seq": 1, "kind": "alarm", "extra": "x"}) == good
    for bad in ({"state": {"x": [1]}}, {"priority": "constructor"}, {"change": "pwned"}, {"camera": "2"},
                {"alarm": True}, {"alarm": 0}, {"camera": 2**40}, {"priority": None}):  # fmt: skip
        assert fa.checked_line({**good, **bad}) is None, bad


async def test_a_removed_peer_ends_its_answer_and_a_changed_grant_applies_at_once() -> None:
    fanout = Fanout(InProcessBus())
    lines: list[dict[str, Any]] = []
    grants: list[fa.MaySee | None] = [lambda cam: cam == 2]  # then: none (the peer removed)
    streams = fa.PeerStreams(limit=1)

    async def refresh() -> fa.MaySee | None:
        return grants[0]

    stream = fa.peer_stream(fanout, lambda cam: cam == 1, KEY, "n", lifetime_s=30, ping_s=0.3, refresh=refresh,
                            streams=(streams, "hq"))  # fmt: skip
    reader = asyncio.create_task(_collect(stream, lines, "n"))
    for _ in range(100):
        if fanout.clients:
            break
        await asyncio.sleep(0.01)
    assert streams.full("hq")  # one open of its one
    await asyncio.sleep(0.5)  # a refresh has run: camera 2 now, not 1
    await fanout.handle(change(20, 1))
    await fanout.handle(change(21, 2))
    await asyncio.sleep(0.2)
    grants[0] = None
    await asyncio.wait_for(reader, 5)  # ended by the next refresh
    assert [x["alarm"] for x in lines if x["kind"] == "alarm"] == [21]
    assert not streams.full("hq") and streams.open == {}


async def test_an_answer_the_peer_does_not_read_is_ended_at_its_backlog_bound() -> None:
    fanout = Fanout(InProcessBus())
    stream = fa.peer_stream(fanout, lambda cam: True, KEY, "n", lifetime_s=30, ping_s=10)
    assert b'"hello"' in await anext(stream)
    nxt = asyncio.ensure_future(anext(stream))  # the generator waits for a change
    await asyncio.sleep(0.05)
    for i in range(5000):  # ~1 MB of changes while the peer reads nothing more
        await fanout.handle(change(100 + i, 1))
    (client,) = fanout.clients
    assert client.overflowed and client.queue.queued_bytes <= fa.BACKLOG_BYTES
    with pytest.raises(StopAsyncIteration):  # ended (the peer opens another and reads the list again)
        await nxt
        while True:
            await asyncio.wait_for(anext(stream), 5)
    assert fanout.clients == set()


class _FakeSite:
    """A real HTTP server on loopback serving the alarm stream as ``mode`` says: ``early`` (hello, then the
    end), ``flood`` (hello and 500 pings at once), ``bad`` (an alarm line with values no site sends, then a
    good one, then it stays open)."""

    def __init__(self) -> None:
        import threading

        import uvicorn
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import StreamingResponse
        from starlette.routing import Route

        from tests.helpers import free_port

        self.mode = "early"
        self.requests = 0

        async def stream(request: Request) -> StreamingResponse:
            self.requests += 1
            claims, _, _ = fed.read_claims(request.headers[fed.TOKEN_HEADER])
            mode, nonce = self.mode, claims.nonce

            async def lines() -> Any:
                yield fa.stream_line(KEY, nonce, 0, {"kind": "hello"})
                if mode == "flood":
                    for i in range(1, 501):
                        yield fa.stream_line(KEY, nonce, i, {"kind": "ping"})
                elif mode == "bad":
                    yield fa.stream_line(KEY, nonce, 1, {"kind": "alarm", "alarm": 1, "camera": 1, "state": {"x": 1},
                                                         "priority": "high", "change": "created"})  # fmt: skip
                    yield fa.stream_line(KEY, nonce, 2, {"kind": "alarm", "alarm": 2, "camera": 1, "state": "new",
                                                         "priority": "high", "change": "created"})  # fmt: skip
                    await asyncio.sleep(30)

            return StreamingResponse(lines(), media_type="application/x-ndjson")

        self.port = free_port()
        app = Starlette(routes=[Route(fa.STREAM_PATH, stream)])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _FakeSite:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                break
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(10)


async def test_the_centre_does_not_ask_in_a_loop_nor_pass_on_what_a_site_may_not_send(tmp_path: Path) -> None:
    """A site whose answers end at once is asked again every 2 s, not in a loop (each read again by the
    users: a resync); a flood of lines ends the answer; an alarm line with values no site sends is dropped,
    the next good one passed on."""
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    Base.metadata.create_all(db.engine)
    f = fed.Federation(db, Ed25519PrivateKey.generate(), "hq", spool_dir=tmp_path / "spool")
    heard: list[tuple[int, dict[str, Any] | None]] = []
    feed = fa.attach(f)
    feed.watch(lambda sid, data: heard.append((sid, data)))
    await f.start()
    try:
        with _FakeSite() as site:
            st = fed.SiteState(7, "comune-a", f"http://127.0.0.1:{site.port}", fed.public_key_text(KEY), online=True)
            follower = asyncio.create_task(feed._follow(st))
            await asyncio.sleep(5)
            early = site.requests
            assert 2 <= early <= 4, early  # one every RETRY_S (2 s); the helper's review saw 112 in 5 s before
            assert heard and all(d is None for _, d in heard) and len(heard) <= early
            site.mode = "flood"
            await asyncio.sleep(2.5)
            assert site.requests - early <= 2
            assert all(d is None for _, d in heard)  # pings are never passed on
            site.mode, heard[:] = "bad", []
            for _ in range(100):
                if any(d is not None for _, d in heard):
                    break
                await asyncio.sleep(0.1)
            passed = [d for _, d in heard if d is not None]
            assert passed == [{"alarm": 2, "camera": 1, "state": "new", "priority": "high", "change": "created"}]
            await cancel_and_wait(follower)
    finally:
        await f.stop()
        db.dispose()
