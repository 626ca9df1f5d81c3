"""HLS initialisation lengths (media/hls.py) on hostile fixtures and every truncation."""

from __future__ import annotations

import pytest

from ronda.media import hls
from ronda.recording.boxes import BoxError
from tests.media.fixtures import base, case, cases


@pytest.mark.parametrize("c", cases(), ids=lambda c: c.name)
def test_init_length(c, tmp_path):
    p = tmp_path / f"{c.name}.mp4"
    p.write_bytes(c.data)
    if c.init is None:
        with pytest.raises(BoxError):
            hls.init_length(str(p))
    else:
        assert hls.init_length(str(p)) == c.init


def test_every_truncation(tmp_path):
    data = base()
    init = case("base").init
    assert init is not None
    for n in range(len(data) + 1):
        _check(tmp_path, data, n, init)


def _check(tmp_path, data: bytes, n: int, init: int) -> None:
    p = tmp_path / f"cut{n}.mp4"  # a new name each time: init_length caches by path
    p.write_bytes(data[:n])
    if n >= init:
        assert hls.init_length(str(p)) == init
    else:
        with pytest.raises(BoxError):
            hls.init_length(str(p))
    p.unlink()
