"""How the live socket groups fragments into messages (``api/routes/live.py``, ``_send``).

A backlog goes as one binary message (moof/mdat pairs back to back), never across a change of
initialisation section and never over ``MESSAGE_BYTES``; each init goes once, before the first fragment
that needs it. The socket is a recorder of what would be sent (the grouping is what is tested; the
real socket path is in test_live_api.py, whose fragments are decoded by ffmpeg).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ronda.api.routes import live as route
from ronda.media.live import LiveFragment, LiveTail
from ronda.recording import fmp4
from tests.media.test_live_signal import _fragments


class Sent:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def send_json(self, doc: dict) -> None:
        self.messages.append(("json", doc["version"]))

    async def send_bytes(self, data: bytes) -> None:
        self.messages.append(data)


def _tail(tmp_path: Path) -> tuple[LiveTail, list[bytes]]:
    init_bytes, frags = _fragments()
    tail = LiveTail(tmp_path, "1/main")
    init = fmp4.parse_init(init_bytes)
    tail.inits = {1: init, 2: init}
    return tail, frags


def _frag(seq: int, data: bytes, version: int) -> LiveFragment:
    return LiveFragment(seq, data, 0.25, seq == 1, 0, version, 0.25 * seq)


def test_a_backlog_is_one_message_and_inits_split_it(tmp_path: Path) -> None:
    tail, frags = _tail(tmp_path)
    assert len(frags) >= 4
    items: list[Any] = [_frag(i + 1, frags[i], 1) for i in range(3)]
    items += [tail.inits[2], _frag(4, frags[3], 2)]  # a new init (camera reconfigured) comes between
    ws = Sent()
    version = asyncio.run(route._send(ws, tail, items, 0))  # type: ignore[arg-type]
    init = tail.inits[1].data
    assert version == 2
    assert ws.messages == [("json", 1), init, frags[0] + frags[1] + frags[2], ("json", 2), init, frags[3]]


def test_a_viewer_that_has_the_init_gets_fragments_only_and_messages_are_bounded(tmp_path: Path,
                                                                                 monkeypatch) -> None:  # fmt: skip
    tail, frags = _tail(tmp_path)
    monkeypatch.setattr(route, "MESSAGE_BYTES", len(frags[0]) + len(frags[1]))
    items = [_frag(i + 1, frags[i], 1) for i in range(3)]
    ws = Sent()
    assert asyncio.run(route._send(ws, tail, items, 1)) == 1  # type: ignore[arg-type]
    assert ws.messages == [frags[0] + frags[1], frags[2]]
    one = Sent()
    asyncio.run(route._send(one, tail, items[:1], 1))  # type: ignore[arg-type]
    assert one.messages == [frags[0]]
