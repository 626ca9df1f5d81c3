"""analytics/frames.py: frames decoded from fragments as the recorder writes them; bad input skipped and
counted, never raised. Real ffmpeg writes the fragments (the recorder's muxer options)."""

from __future__ import annotations

import time
from pathlib import Path

from ronda.analytics.frames import FragmentDecoder, FrameSource
from ronda.recording.tail import PartialTail, TailBox
from tests.analytics.fragments import live_writer, write_segments


def _boxes(files: list[Path]) -> list[TailBox]:
    tail = PartialTail(files[0].parent)
    out: list[TailBox] = []
    for f in files:
        out += tail.read_file(f)
    return out


def test_follows_the_stream_while_it_is_written(tmp_path: Path) -> None:
    part = tmp_path / ".partial" / "1-sub"
    writer = live_writer(part, "s1", seconds=4)
    src = FrameSource(1, part, fps=5)
    frames = []
    try:
        deadline = time.monotonic() + 15
        while writer.poll() is None and time.monotonic() < deadline:
            got = src.read(int(time.time() * 1000))
            for f in got:
                assert abs(f.time_ms - time.time() * 1000) < 2000, "a frame is dated near its capture"
            frames += got
            time.sleep(0.1)
        frames += src.read(int(time.time() * 1000))
    finally:
        writer.kill()
        src.close()
    # 4 s at 5 frames/s (the stream has 15): sampled, not every frame
    assert 14 <= len(frames) <= 22, len(frames)
    times = [f.time_ms for f in frames]
    assert times == sorted(times)
    assert frames[0].gray().shape == (240, 320)
    assert frames[0].bgr().shape == (240, 320, 3)
    assert src.decoder.decoded >= 45
    assert not src.reasons


def test_a_new_resolution_mid_stream_opens_a_new_decoder(tmp_path: Path) -> None:
    part = tmp_path / "p"
    files = write_segments(part, "a", "320x240", 2) + write_segments(part, "b", "640x360", 2)
    dec = FragmentDecoder(1, fps=5)
    frames = dec.push(_boxes(files), int(time.time() * 1000))
    sizes = [(f.width, f.height) for f in frames]
    assert (320, 240) in sizes and (640, 360) in sizes
    assert sizes.index((640, 360)) > sizes.index((320, 240))
    assert dec.decoder_changes == 1
    assert not dec.reasons
    assert frames[-1].gray().shape == (360, 640)


def test_h265(tmp_path: Path) -> None:
    files = write_segments(tmp_path / "p", "h", "640x360", 2, codec="hevc")
    dec = FragmentDecoder(1, fps=5)
    frames = dec.push(_boxes(files), int(time.time() * 1000))
    assert dec.setup is not None and dec.setup.codec == "hevc"
    assert len(frames) >= 8
    assert frames[0].gray().shape == (360, 640)
    assert not dec.reasons


def test_corrupt_fragments_are_skipped_and_counted(tmp_path: Path) -> None:
    files = write_segments(tmp_path / "p", "c", "320x240", 3)
    boxes = _boxes(files)
    moofs = [i for i, b in enumerate(boxes) if b.kind == b"moof"]
    # One fragment's header replaced by garbage of the same size, another's sample data zeroed.
    bad = moofs[2]
    boxes[bad] = TailBox(b"moof", boxes[bad].data[:8] + b"\xff" * (len(boxes[bad].data) - 8), boxes[bad].file)
    mdat = moofs[5] + 1
    boxes[mdat] = TailBox(b"mdat", boxes[mdat].data[:8] + bytes(len(boxes[mdat].data) - 8), boxes[mdat].file)
    dec = FragmentDecoder(1, fps=5)
    frames = dec.push(boxes, int(time.time() * 1000))
    assert dec.reasons["corrupt_fragment"] >= 1
    assert len(frames) >= 10, "the fragments after the bad ones still decode"


def test_a_corrupt_init_skips_its_file_only(tmp_path: Path) -> None:
    files = write_segments(tmp_path / "p", "i", "320x240", 3)
    boxes = _boxes(files)
    first = boxes[0].file
    boxes = [TailBox(b.kind, b"\x00" * len(b.data), b.file) if b.kind == b"moov" and b.file == first else b
             for b in boxes]  # fmt: skip
    dec = FragmentDecoder(1, fps=5)
    frames = dec.push(boxes, int(time.time() * 1000))
    assert dec.reasons["corrupt_init"] == 1
    assert dec.reasons["no_init"] >= 1
    assert len(frames) >= 5, "the next files decode"


def test_garbage_in_a_partial_file_is_skipped(tmp_path: Path) -> None:
    part = tmp_path / "p"
    write_segments(part, "g", "320x240", 2)
    (part / "g_999999.mp4.partial").write_bytes(b"\x00\x00\x00\x00junk" * 100)  # size 0: not an fMP4 box
    src = FrameSource(1, part, fps=5)
    assert src.read(int(time.time() * 1000)) == []
    assert src.reasons["corrupt_file"] == 1


def test_sparse_need_decodes_a_keyframe_every_two_seconds_and_catches_up_exactly(tmp_path: Path) -> None:
    """Nothing needs every frame: only a keyframe about every 2 s reaches the decoder (1 s GOP here). When an
    analyser asks for every frame mid-GOP, the skipped packets since the keyframe are decoded first, so
    the pictures from then on are the same as with every frame decoded."""
    files = write_segments(tmp_path / "p", "a", "320x240", 8)
    boxes = _boxes(files)
    now = int(time.time() * 1000)
    full = FragmentDecoder(1, fps=15)
    every = full.push(boxes, now)
    sparse = FragmentDecoder(1, fps=15, need=lambda: "sparse")
    looks = sparse.push(boxes, now)
    assert full.decoded == len(every) == 120 and full.skipped == 0
    # keyframes every 1 s; a look 1 to 3 s after the last one (jittered around 2 s)
    assert sparse.decoded == len(looks) and 3 <= len(looks) <= 5 and sparse.skipped >= 20  # fragments not demuxed
    gaps = [b.time_ms - a.time_ms for a, b in zip(looks, looks[1:], strict=False)]
    assert all(900 <= g <= 3100 for g in gaps), gaps
    # every frame wanted from the 11th fragment on (250 ms fragments: mid-GOP, the GOP started at the 9th)
    calls = 0

    def need() -> str:
        nonlocal calls
        calls += 1
        return "all" if calls > 10 else "sparse"

    switched = FragmentDecoder(1, fps=15, need=need)
    frames = switched.push(boxes, now)
    tail = [f.gray().tobytes() for f in frames[-90:]]  # from 2 s on: the whole GOP, caught up
    assert tail == [f.gray().tobytes() for f in every[-90:]]
