"""The remote's pushed alarm lines (``ronda.cluster.federation_alarms``): signed per answer and place, only
the peer's granted cameras, pings while quiet, an end after the answer's life; and what a central user's
socket gets of them. The whole path (two ``ronda serve`` sites, a WebSocket at the centre) is in
``test_federation_sites.py``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ronda.cluster import federation_alarms as fa
from ronda.events.bus import InProcessBus
from ronda.events.fanout import Fanout
from ronda.events.messages import Alarm, AlarmChange, AlarmChanged, AlarmState

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
