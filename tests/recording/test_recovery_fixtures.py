"""Recovery (recording/recovery.py) on hostile fixtures and on every truncation of a real segment."""

from __future__ import annotations

import pytest

from ronda.recording import recovery
from tests.media.fixtures import base, cases, fragment_ends


@pytest.mark.parametrize("c", cases(), ids=lambda c: c.name)
def test_complete_length(c, tmp_path):
    p = tmp_path / "seg.mp4.partial"
    p.write_bytes(c.data)
    assert recovery.complete_length(p) == c.complete
    assert recovery.truncate_to_complete(p) is (c.complete > 0)
    if c.complete:
        assert p.stat().st_size == c.complete


def test_every_truncation(tmp_path):
    """A file cut at any byte keeps exactly the fragments completed before the cut."""
    data = base()
    ends = fragment_ends(data)
    p = tmp_path / "seg.mp4.partial"
    for n in range(len(data) + 1):
        p.write_bytes(data[:n])
        want = max([e for e in ends if e <= n], default=0)
        if n == len(data):
            want = n  # the mfra completes the file
        got = recovery.complete_length(p)
        assert got == want, f"cut at {n}: kept {got}, expected {want}"
