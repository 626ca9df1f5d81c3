"""The recorder tells the live hub when a fragment lands; the hub no longer polls every 20 ms.

A real Recorder (not started: only its fragment signal is used) watches the partial folder with the
kernel's file notifications; a writer appends real fragments the way ffmpeg does; a real LiveTail
publishes them. Asserted: each fragment is published within a few milliseconds of being written, and
an idle tail reads the disk at most a few times a second (the safety net), not fifty.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from ronda.access.secrets import SecretBox
from ronda.config import load_config
from ronda.media.live import LiveHub
from ronda.recording.layout import Layout
from ronda.recording.recorder import Recorder
from ronda.store.db import Database
from tests.media.fixtures import base, top_boxes


def _fragments() -> tuple[bytes, list[bytes]]:
    data = base()
    tops = top_boxes(data)
    moov = next(b for b in tops if b.kind == b"moov")
    frags = []
    for moof, mdat in zip(tops, tops[1:], strict=False):
        if moof.kind == b"moof" and mdat.kind == b"mdat":
            frags.append(data[moof.start : mdat.end])
    return data[: moov.end], frags


def test_fragments_are_signalled_not_polled(tmp_path: Path) -> None:
    cfg = load_config(None, overrides={"data_dir": str(tmp_path / "data")})
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    recorder = Recorder(cfg, db, SecretBox.load_or_create(tmp_path / "secrets.key"))
    init, frags = _fragments()

    async def main() -> tuple[list[float], int]:
        hub = LiveHub(cfg.recordings_dir, signals=recorder)
        tail = hub.get(1, "main")
        polls = 0
        real_poll = tail.poll

        def counting_poll() -> bool:
            nonlocal polls
            polls += 1
            return real_poll()

        tail.poll = counting_poll  # type: ignore[method-assign]
        q = tail.subscribe()
        await asyncio.sleep(0.2)
        partial = Layout(cfg.recordings_dir).partial_pattern(1, "main", "0000000000001")
        path = Path(str(partial) % 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        delays: list[float] = []
        with path.open("wb") as f:  # noqa: ASYNC230 (the writer stands for ffmpeg: blocking on purpose)
            f.write(init)
            f.flush()
            for frag in frags:
                f.write(frag)
                f.flush()
                t0 = time.monotonic()
                while True:
                    item = await asyncio.wait_for(q.get(), 2)
                    if not hasattr(item, "seq"):
                        continue  # the initialisation section
                    break
                delays.append(time.monotonic() - t0)
        polls = 0
        await asyncio.sleep(1.0)  # idle: nothing written
        idle_polls = polls
        await hub.close()
        return delays, idle_polls

    try:
        delays, idle_polls = asyncio.run(main())
    finally:
        db.dispose()
    assert len(delays) == len(frags)
    assert max(delays) < 0.05, f"fragments published after {delays} s"
    assert idle_polls <= 3, f"an idle tail read the disk {idle_polls} times in a second"
