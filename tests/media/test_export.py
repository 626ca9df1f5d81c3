"""Exports and evidence packages: real recordings of the shared site, real ffmpeg, ``ronda verify``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ronda.media import evidence
from ronda.media.export import RUN_TOLERANCE_MS
from tests.helpers import catalog, ffprobe_json, iso, probe_frames, wait_for

GOP_MS = 1000


def ronda(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ronda.cli", *args], capture_output=True, text=True, timeout=300)


def continuous_tail(data_dir: Path, camera_id: int) -> list:
    """The catalog's last segments that form one run (no gap, touching within the export's tolerance):
    other tests may have stopped, killed or restarted the shared site, and a range over that is split."""
    segs, gaps = catalog(data_dir, camera_id)
    cut = max([g.end_ms if g.end_ms is not None else g.start_ms for g in gaps], default=0)
    for a, b in zip(segs, segs[1:], strict=False):
        if b.start_ms - a.end_ms > RUN_TOLERANCE_MS:
            cut = max(cut, b.start_ms)
    return [x for x in segs if x.start_ms >= cut]


@pytest.fixture(scope="module")
def package(site, tmp_path_factory):
    """Two cameras over a window that spans segment boundaries and, for Camera 4, a real outage."""
    c1, c4 = site.cam("Camera 1"), site.cam("Camera 4")
    tails = wait_for(lambda: all(len(continuous_tail(site.data_dir, c)) >= 3 for c in (c1, c4))
                     and [continuous_tail(site.data_dir, c) for c in (c1, c4)], 60,
                     what="3 segments of Cameras 1 and 4 in one run")  # fmt: skip
    start = max(t[-3].start_ms for t in tails) + 1500  # the last 3 segments: not the whole session so far
    site.sim.stop_camera("cam4")
    time.sleep(8)
    site.sim.start_camera("cam4")
    t_back = int(time.time() * 1000)

    def back() -> list:
        return [s for s in catalog(site.data_dir, c4)[0] if s.start_ms > t_back - 2000 and s.end_ms > t_back + 6000]

    wait_for(back, 40, what="Camera 4 recording after its outage")
    end = int(time.time() * 1000) - 3000
    out = tmp_path_factory.mktemp("export") / "case-17.zip"
    r = ronda("export", "--camera", str(c1), "--camera", str(c4), "--start", iso(start), "--end", iso(end),
              "--out", str(out), "--reason", "illegal dumping, via Roma", "--case", "VV-2026-17",
              "--data-dir", str(site.data_dir))  # fmt: skip
    assert r.returncode == 0, r.stderr
    return out, start, end, r


def test_package_content_and_verify(site, package, tmp_path):
    out, start, end, r = package
    assert "100 %" in r.stderr  # progress was shown
    v = ronda("verify", str(out))
    assert v.returncode == 0 and v.stdout.startswith("valid") and "SHA256:" in v.stdout
    assert "no --pubkey" in v.stderr
    pub = tmp_path / "site.pem"
    pub.write_text(ronda("keys", "public", "--data-dir", str(site.data_dir)).stdout)
    assert ronda("verify", str(out), "--pubkey", str(pub)).returncode == 0
    with zipfile.ZipFile(out) as z:
        manifest = json.loads(z.read("manifest.json"))
        names = set(z.namelist())
    assert manifest["case"] == "VV-2026-17" and manifest["reason"] == "illegal dumping, via Roma"
    assert manifest["exported_by"].startswith("cli:")
    assert {"snapshot.jpg", "report.txt", "manifest.sig", "site_public_key.pem"} <= names
    videos = [f for f in manifest["files"] if f["kind"] == "video"]
    by_cam: dict[int, list] = {}
    for f in videos:
        by_cam.setdefault(f["camera_id"], []).append(f)
    c1, c4 = site.cam("Camera 1"), site.cam("Camera 4")
    assert len(by_cam[c1]) == 1, "one continuous run → one file"
    assert len(by_cam[c4]) == 2, "split only at the gap"
    assert any(g["camera_id"] == c4 for g in manifest["gaps"])
    # Audit: CLI exports are attributed to cli:<user>@<host>.
    audit = site.ronda.api("GET", "/api/v1/audit", params={"action": "export"}).json()
    # other tests' export entries (another order) may carry other details: look for this one
    assert any(a["actor"].startswith("cli:") and (a["details"] or {}).get("case") == "VV-2026-17" for a in audit)


def test_videos_play_and_match_the_catalog(package, tmp_path):
    out, start, end, _ = package
    with zipfile.ZipFile(out) as z:
        manifest = json.loads(z.read("manifest.json"))
        z.extractall(tmp_path)
    for f in (x for x in manifest["files"] if x["kind"] == "video"):
        path = tmp_path / f["name"]
        assert probe_frames(path) == (True, True), f["name"]
        info = ffprobe_json(path)
        assert info["streams"][0]["codec_name"] == "h264" and len(info["streams"]) == 1  # copied, not re-encoded
        want = (datetime.fromisoformat(f["end"].replace("Z", "+00:00")) -
                datetime.fromisoformat(f["start"].replace("Z", "+00:00"))).total_seconds() * 1000  # fmt: skip
        got = float(info["format"]["duration"]) * 1000
        assert abs(got - want) <= GOP_MS + 100, (f["name"], got, want)


def _tampered(src: Path, dst: Path, edit) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            zout.writestr(item, edit(item.filename, zin.read(item.filename)))
    return dst


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize(
    ("what", "edit", "message"),
    [
        ("video byte", lambda n, d: _flip(d, len(d) // 2) if n.endswith(".mp4") else d, "altered"),
        ("manifest", lambda n, d: d.replace(b"VV-2026-17", b"VV-2026-18") if n == "manifest.json" else d, "signature"),
        ("signature", lambda n, d: (Ed25519PrivateKey.generate().sign(b"x").hex() + "\n").encode()
         if n == "manifest.sig" else d, "signature"),
        ("report", lambda n, d: d + b"extra" if n == "report.txt" else d, "report.txt has been altered"),
    ],
)  # fmt: skip
def test_tampering_is_detected(package, tmp_path, what, edit, message):
    bad = _tampered(package[0], tmp_path / "bad.zip", edit)
    r = ronda("verify", str(bad))
    assert r.returncode == 1, what
    assert message in r.stdout, (what, r.stdout)


def test_resigned_package_needs_the_published_key(site, package, tmp_path):
    src = package[0]
    other = Ed25519PrivateKey.generate()
    with zipfile.ZipFile(src) as z:
        manifest = json.loads(z.read("manifest.json"))
        z.extractall(tmp_path / "x")
    files = [(tmp_path / "x" / f["name"], f["name"]) for f in manifest["files"]]
    manifest["case"] = "forged"
    forged = tmp_path / "forged.zip"
    evidence.write_package(forged, manifest, files, other)
    r = ronda("verify", str(forged))
    assert r.returncode == 0 and "no --pubkey" in r.stderr  # self-consistent, with a clear warning
    pub = tmp_path / "site.pem"
    pub.write_text(ronda("keys", "public", "--data-dir", str(site.data_dir)).stdout)
    r = ronda("verify", str(forged), "--pubkey", str(pub))
    assert r.returncode == 1 and "signed by another key" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2020-01-01T00:00:00Z", "--end", "2020-01-01T00:10:00Z"], "no recordings"),
        (["--start", "2026-01-02T00:00:00Z", "--end", "2026-01-01T00:00:00Z"], "end must be after start"),
        (["--start", "2026-01-01T00:00:00Z", "--end", "2026-04-11T00:00:00Z"], "at most 24 hours"),
        (["--start", "yesterday", "--end", "2026-01-01T00:00:00Z"], "ISO 8601"),
        (["--start", "2026-01-01T00:00:00Z", "--end", "2026-01-01T01:00:00Z", "--case", "A\r\nB"], "one line"),
    ],
)
def test_bad_exports_write_nothing(site, tmp_path, args, message):
    out = tmp_path / "x.zip"
    r = ronda(
        "export", "--camera", str(site.cam("Camera 1")), *args, "--out", str(out), "--data-dir", str(site.data_dir)
    )
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_camera_and_existing_file(site, package, tmp_path):
    _, start, end, _ = package
    r = ronda("export", "--camera", "9999", "--start", iso(start), "--end", iso(end), "--out",
              str(tmp_path / "a.zip"), "--data-dir", str(site.data_dir))  # fmt: skip
    assert r.returncode == 2 and "does not exist" in r.stderr
    existing = tmp_path / "b.zip"
    existing.write_text("keep me")
    r = ronda("export", "--camera", str(site.cam("Camera 1")), "--start", iso(start), "--end", iso(end), "--out",
              str(existing), "--data-dir", str(site.data_dir))  # fmt: skip
    assert r.returncode == 2 and existing.read_text() == "keep me"


def test_verify_garbage(tmp_path):
    f = tmp_path / "junk.zip"
    f.write_bytes(b"PK\x03\x04 not really")
    r = ronda("verify", str(f))
    assert r.returncode == 1 and "not a readable evidence package" in r.stdout
    assert shutil.which("ffmpeg")
