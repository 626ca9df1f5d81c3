"""Signed internal URLs and the fetched-segment cache of ronda.cluster.nodes (no server)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from ronda.cluster.nodes import CLOCK_SKEW_S, SIGNATURE_TTL_S, NodeClient, SignatureError, UrlSigner

PATH = "/internal/v1/segments/7.mp4"
T = 1_800_000_000.0


def parts(query: str) -> tuple[str, str]:
    q = parse_qs(query)
    return q["exp"][0], q["sig"][0]


def test_a_signature_holds_for_its_method_path_and_minute_only() -> None:
    s = UrlSigner.from_site_key(b"k" * 44)
    exp, sig = parts(s.query(PATH, now=T))
    s.verify("GET", PATH, exp, sig, now=T + SIGNATURE_TTL_S - 1)
    bad = {
        "expired": ("GET", PATH, exp, sig, T + SIGNATURE_TTL_S + 1),
        "another path": ("GET", "/internal/v1/segments/8.mp4", exp, sig, T),
        "another method": ("DELETE", PATH, exp, sig, T),
        "a later expiry": ("GET", PATH, str(int(exp) + 1), sig, T),
        "no signature": ("GET", PATH, exp, None, T),
        "no expiry": ("GET", PATH, None, sig, T),
        "malformed expiry": ("GET", PATH, "soon", sig, T),
        "another key": ("GET", PATH, *parts(UrlSigner.from_site_key(b"x" * 44).query(PATH, now=T)), T),
    }
    for why, (method, path, e, g, now) in bad.items():
        with pytest.raises(SignatureError):
            s.verify(method, path, e, g, now=now)
            pytest.fail(why)
    # An expiry further ahead than a signer ever gives (a forged long-lived URL) is refused too.
    far = UrlSigner.from_site_key(b"k" * 44).query(PATH, ttl_s=SIGNATURE_TTL_S + CLOCK_SKEW_S + 60, now=T)
    with pytest.raises(SignatureError, match="too far ahead"):
        s.verify("GET", PATH, *parts(far), now=T)


def test_the_segment_cache_keeps_the_most_recently_used_within_its_bound(tmp_path: Path) -> None:
    client = NodeClient(None, UrlSigner(b"k"), "a1", tmp_path, cache_bytes=2500)  # type: ignore[arg-type]
    (tmp_path / "r1").mkdir()
    for i in range(1, 5):
        f = tmp_path / "r1" / f"{i}.mp4"
        f.write_bytes(b"x" * 1000)
        os.utime(f, (T + i, T + i))
    os.utime(tmp_path / "r1" / "1.mp4", (T + 10, T + 10))  # used again lately
    client._evict()
    assert sorted(p.name for p in (tmp_path / "r1").iterdir()) == ["1.mp4", "4.mp4"]
