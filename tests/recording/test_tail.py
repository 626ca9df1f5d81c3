"""recording/tail.py: complete boxes of the newest partial file, across appends, renames and file switches."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ronda.recording.boxes import BoxError
from ronda.recording.tail import PartialTail


def box(kind: bytes, payload: bytes = b"x" * 10) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_follows_appends_renames_and_the_next_file(tmp_path: Path) -> None:
    tail = PartialTail(tmp_path)
    assert tail.poll() == []  # nothing yet
    first = tmp_path / "s_000000.mp4.partial"
    data = box(b"ftyp") + box(b"moov") + box(b"moof") + box(b"mdat")
    first.write_bytes(data[:-5])  # the last box is still being written
    got = tail.poll()
    assert [b.kind for b in got] == [b"ftyp", b"moov", b"moof"]
    with first.open("ab") as f:
        f.write(data[-5:])
    assert [b.kind for b in tail.poll()] == [b"mdat"]
    # ffmpeg appends the file's last fragment, closes it, the recorder renames it, the next file starts
    with first.open("ab") as f:
        f.write(box(b"moof") + box(b"mdat"))
    first.rename(tmp_path / "done.mp4")
    (tmp_path / "s_000001.mp4.partial").write_bytes(box(b"ftyp") + box(b"moov"))
    got = tail.poll()  # the rest of the old file first (the descriptor survives the rename) ...
    assert [b.kind for b in got] == [b"moof", b"mdat"]
    new = tail.poll()  # ... then, once it stops growing, the next one
    assert [b.kind for b in new] == [b"ftyp", b"moov"]
    assert got[0].file == got[1].file != new[0].file == new[1].file, "each file has its own number"
    assert tail.poll() == []
    tail.close()


def test_a_corrupt_file_raises_or_is_skipped(tmp_path: Path) -> None:
    bad = tmp_path / "s_000000.mp4.partial"
    bad.write_bytes(box(b"ftyp") + b"\x00\x00\x00\x00junk")  # size 0: not a box of a fragmented MP4
    with pytest.raises(BoxError):
        PartialTail(tmp_path).poll()
    tail = PartialTail(tmp_path, skip_corrupt=True)
    assert [b.kind for b in tail.poll()] == [b"ftyp"]
    assert tail.skipped_files == 1
    (tmp_path / "s_000001.mp4.partial").write_bytes(box(b"ftyp"))
    assert [b.kind for b in tail.poll()] == [b"ftyp"], "the next file is read again"
