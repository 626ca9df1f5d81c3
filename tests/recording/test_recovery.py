"""Hostile inputs for crash recovery: cut fragmented MP4s, garbage, empty files."""

import pytest

from ronda.recording.recovery import complete_length, quarantine, truncate_to_complete
from tests.helpers import make_fmp4, probe_frames


@pytest.fixture(scope="module")
def fmp4(tmp_path_factory):
    d = tmp_path_factory.mktemp("fmp4")
    out = d / "whole.mp4"
    return make_fmp4(out, 6)


def test_truncated_fragment_is_cut_back_and_plays(fmp4, tmp_path):
    data = fmp4.read_bytes()
    cut = tmp_path / "cut.mp4.partial"
    cut.write_bytes(data[: int(len(data) * 0.7)])  # mid-fragment, like a kill -9
    assert probe_frames(cut) != (True, True)  # broken as it is
    assert truncate_to_complete(cut)
    assert 0 < cut.stat().st_size < len(data) * 0.7
    assert probe_frames(cut) == (True, True)


def test_complete_file_is_left_alone(fmp4, tmp_path):
    copy = tmp_path / "ok.mp4"
    copy.write_bytes(fmp4.read_bytes())
    assert complete_length(copy) == copy.stat().st_size


def test_header_only_is_not_recoverable(fmp4, tmp_path):
    data = fmp4.read_bytes()
    head = tmp_path / "head.partial"
    head.write_bytes(data[:900])
    assert not truncate_to_complete(head)
    dest = quarantine(head, tmp_path / "q")
    assert dest.exists() and not head.exists()


@pytest.mark.parametrize("blob", [b"", b"\x00" * 7, b"\xff" * 4096, b"\x00\x00\x00\x08moov" + b"x" * 100])
def test_garbage_is_not_recoverable(tmp_path, blob):
    f = tmp_path / "junk.partial"
    f.write_bytes(blob)
    assert not truncate_to_complete(f)
