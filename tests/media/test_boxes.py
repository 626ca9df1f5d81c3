"""The one MP4 box parser (recording/boxes.py) and the live-view readers on it (recording/fmp4.py),
against hostile fixtures: every input ends in a result or BoxError, never another exception."""

from __future__ import annotations

import io

import pytest

from ronda.recording import boxes, fmp4
from tests.media.fixtures import base, case, cases, top_boxes


def test_base_fixture_is_a_fragmented_mp4():
    kinds = [b.kind for b in top_boxes(base())]
    assert kinds[:2] == [b"ftyp", b"moov"] and kinds[-1] == b"mfra"
    assert kinds.count(b"moof") == kinds.count(b"mdat") >= 3


def test_64_bit_size_is_read():
    c = case("box64")
    free = [b for b in top_boxes(c.data) if b.kind == b"free"]
    assert len(free) == 1 and free[0].header == 16 and free[0].size == 21


@pytest.mark.parametrize("raw", [b"\0\0\0\0mdat", b"\0\0\0\x07free", b"\0\0\0\x01mdat\0\0\0\0\0\0\0\x0f"])
def test_bad_sizes_are_box_errors(raw):
    with pytest.raises(boxes.BoxError):
        boxes.box_header(raw, 0)


def test_incomplete_header_is_none():
    assert boxes.box_header(b"\0\0\0\x01mdat\0\0", 0) is None
    assert boxes.box_header(b"\0\0\0", 0) is None


@pytest.mark.parametrize("c", cases(), ids=lambda c: c.name)
def test_walk_every_truncation(c):
    """Headers of each prefix of each fixture: only Box values or BoxError."""
    data = c.data
    for n in range(len(data) + 1):
        try:
            for b in boxes.walk_file(io.BytesIO(data[:n]), n):
                assert b.size >= b.header
        except boxes.BoxError:
            pass
        try:
            for _ in boxes.iter_boxes(data[:n]):
                pass
        except boxes.BoxError:
            pass


def test_huge_box_is_not_complete():
    c = case("huge64")
    last = top_boxes(c.data)[-1]
    assert last.kind == b"mdat" and last.end > len(c.data)
    assert [k for k, _, _ in boxes.iter_boxes(c.data)][-1] == b"mdat"  # the last *complete* one


def test_parse_init_every_truncation_and_byte():
    data = base()
    init_len = case("base").init
    assert init_len is not None
    init = fmp4.parse_init(data[:init_len])
    assert init.video is not None and init.video.codec.startswith("avc1.")
    for n in range(init_len):
        with pytest.raises(boxes.BoxError):
            fmp4.parse_init(data[:n])
    for i in range(init_len):
        for v in (0x00, 0xFF):
            mutated = bytearray(data[:init_len])
            mutated[i] = v
            try:
                fmp4.parse_init(bytes(mutated))
            except boxes.BoxError:
                pass


def test_parse_moof_every_truncation_and_byte():
    data = base()
    init_len = case("base").init
    assert init_len is not None
    init = fmp4.parse_init(data[:init_len])
    moof = next(b for b in top_boxes(data) if b.kind == b"moof")
    raw = data[moof.start : moof.end]
    frag = fmp4.parse_moof(raw, init)
    assert frag.keyframe and frag.tracks
    for n in range(len(raw)):
        try:
            fmp4.parse_moof(raw[:n], init)
        except boxes.BoxError:
            pass
    for i in range(len(raw)):
        for v in (0x00, 0xFF):
            mutated = bytearray(raw)
            mutated[i] = v
            try:
                fmp4.parse_moof(mutated, init)
            except boxes.BoxError:
                pass


@pytest.mark.parametrize(("tier_opt", "letter"), [(":high-tier=0", "L"), (":high-tier=1", "H")])
def test_hevc_codec_string_names_the_tier(tmp_path, tier_opt, letter):
    """RFC 6381 / ISO 14496-15 E.3: the tier is 'L' for Main (general_tier_flag 0), 'H' for High; a
    browser's MediaSource refuses a main-tier stream announced as high tier on some decoders."""
    import subprocess

    out = tmp_path / "hevc.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=1", "-c:v", "libx265",
         "-x265-params", f"log-level=error:level-idc=4{tier_opt}", "-tag:v", "hvc1",
         "-movflags", "frag_keyframe+empty_moov+default_base_moof", str(out)],
        check=True, timeout=60,
    )  # fmt: skip
    init = fmp4.parse_init(out.read_bytes())
    assert init.video is not None
    parts = init.video.codec.split(".")
    assert parts[0] == "hvc1" and parts[1] == "1", init.video.codec  # Main profile
    assert parts[3] == f"{letter}120", init.video.codec  # level 4.0 = 120
