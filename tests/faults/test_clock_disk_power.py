"""Faults on a real server (issue 16): the wall clock jumps, the disk fills during an export and
recording, the power is cut. Real ``ronda serve``, real ffmpeg, a real simulator, real signals.

- Clock: libfaketime (Debian ``faketime``) moves the wall clock of the running server and its ffmpeg
  children by +1 h, then back by 1 h; the monotonic clock stays real (``FAKETIME_DONT_FAKE_MONOTONIC``).
- Disk: recordings and exports on one small tmpfs (we are root); unmounted in teardown.
- Power cut: kill -9 of the server and its ffmpeg children, ``drop_caches`` without a sync, restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ronda.devices.simcontrol import SimulatorProcess
from tests.helpers import (
    RondaProcess,
    SegRow,
    catalog,
    ffmpeg_children_of,
    free_port,
    iso,
    overlaps,
    uncovered,
    wait_for,
    write_config,
)

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
HOUR_MS = 3_600_000
SEGMENT_S = 2
# libfaketime 0.9.10 (Debian 12) breaks clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), which Python
# 3.11's time.sleep uses, when the monotonic clock is not faked (wolfcw/libfaketime#426: EINVAL). This
# shim, preloaded before it, sends every sleep on a clock other than the wall clock straight to the kernel.
SLEEP_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t id, int flags, const struct timespec *req, struct timespec *rem) {
    if (id != CLOCK_REALTIME) {
        return syscall(SYS_clock_nanosleep, id, flags, req, rem) == 0 ? 0 : errno;
    }
    static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);
    if (next == NULL) next = dlsym(RTLD_NEXT, "clock_nanosleep");
    return next(id, flags, req, rem);
}
"""


@pytest.fixture(scope="module")
def cams(tmp_path_factory) -> Iterator[SimulatorProcess]:
    """This module's own simulator (two cameras)."""
    s = SimulatorProcess(cameras=2, log_dir=tmp_path_factory.mktemp("faults-sim"))
    s.start()
    try:
        yield s
    finally:
        s.close()


def db_rows(data: Path, sql: str, args: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(f"file:{data / 'ronda.db'}?mode=ro", uri=True, timeout=30)
    try:
        return list(con.execute(sql, args))
    finally:
        con.close()


def events(data: Path, type_: str) -> list[dict]:
    return [json.loads(p or "{}") for (p,) in db_rows(data, "SELECT payload FROM events WHERE type=? ORDER BY id",
                                                      (type_,))]  # fmt: skip


def lock_all(data: Path, camera_id: int) -> None:
    """An evidence lock over all of a camera's footage, past and next hour: retention can free nothing."""
    con = sqlite3.connect(data / "ronda.db", timeout=30)
    try:
        with con:
            con.execute(
                "INSERT INTO evidence_locks (camera_id, start_ms, end_ms, reason, created_by, created_ms) "
                "VALUES (?, 0, ?, 'fault test', 'test', ?)",
                (camera_id, int(time.time() * 1000) + 3 * HOUR_MS, int(time.time() * 1000)),
            )
    finally:
        con.close()


def media_ms(path: Path) -> int:
    r = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_entries", "format=duration", str(path)],
                       capture_output=True, timeout=30, check=True)  # fmt: skip
    return int(round(float(json.loads(r.stdout)["format"]["duration"]) * 1000))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_catalog_matches_files(data: Path, camera_ids: list[int]) -> int:
    """Every segment row names a file that exists, with the catalogued size and SHA-256; returns how many."""
    n = 0
    for cid in camera_ids:
        for seg in catalog(data, cid)[0]:
            f = data / "recordings" / seg.path
            assert f.is_file(), f"catalog row {seg.id} names a missing file {seg.path}"
            assert f.stat().st_size == seg.bytes, f"{seg.path}: {f.stat().st_size} bytes, catalogued {seg.bytes}"
            assert sha256(f) == seg.sha256, f"{seg.path}: content differs from the catalogued SHA-256"
            n += 1
    return n


# --- the wall clock jumps -------------------------------------------------------------------------
@pytest.fixture
def faketime(tmp_path) -> tuple[dict[str, str], Path]:
    """The environment that lets the test move the server's wall clock by writing an offset to a file."""
    if not LIBFAKETIME.exists() or shutil.which("gcc") is None:
        pytest.skip("libfaketime (Debian faketime) or gcc missing: scripts/setup.sh --test installs them")
    src = tmp_path / "sleep_shim.c"
    src.write_text(SLEEP_SHIM)
    shim = tmp_path / "sleep_shim.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(shim), str(src), "-ldl"], check=True, timeout=60)
    offset = tmp_path / "faketime.rc"
    offset.write_text("+0\n")
    env = {
        **os.environ,
        "LD_PRELOAD": f"{shim}:{LIBFAKETIME}",
        "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_NO_CACHE": "1",  # read the offset at every call: the step happens while it runs
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    return env, offset


def set_offset(offset: Path, value: str) -> None:
    """Atomically: libfaketime reads the file at every clock call and must never see it half-written."""
    tmp = offset.with_suffix(".new")
    tmp.write_text(value + "\n")
    os.replace(tmp, offset)


def test_clock_jumps_forward_and_back(cams, tmp_path, faketime):
    env, offset = faketime
    data = tmp_path / "data"
    port = free_port()
    # Retention just under an hour: a retention counting the +1 h step as time passed would delete
    # every segment at once.
    cfg = write_config(
        data, port, [{"name": "A", "main": {"url": cams.url("cam1")}}],
        recording={"segment_seconds": SEGMENT_S},
        storage={"check_interval_seconds": 1, "default_retention_days": 0.04, "delete_below_free_percent": 0},
    )  # fmt: skip
    ronda = RondaProcess(cfg, tmp_path / "ronda.log", port)
    ronda.env = env
    ronda.start()
    try:
        before = wait_for(lambda: len(s := catalog(data, 1)[0]) >= 3 and s, 40, what="3 segments")
        set_offset(offset, "+1h")
        wait_for(lambda: [e for e in events(data, "system.clock_jump") if e["step_ms"] > 0], 15,
                 what="a system.clock_jump event for the +1 h step")  # fmt: skip
        ahead = wait_for(lambda: len(s := [x for x in catalog(data, 1)[0] if x.start_ms > before[-1].end_ms]) >= 3
                         and s, 30, what="3 segments after the +1 h step")  # fmt: skip
        set_offset(offset, "+0")
        wait_for(lambda: [e for e in events(data, "system.clock_jump") if e["step_ms"] < 0], 15,
                 what="a system.clock_jump event for the -1 h step")  # fmt: skip
        back = wait_for(lambda: len(s := [x for x in catalog(data, 1)[0] if x.start_ms > ahead[-1].end_ms]) >= 3
                        and s, 30, what="3 segments after the -1 h step")  # fmt: skip
        # An outage while the footage runs ahead of the stepped-back wall clock keeps its length: ffmpeg
        # is killed, restarted at once; the wall clock alone would place its next segment right after
        # the previous one, hiding the outage.
        [pid] = ffmpeg_children_of(data)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: len([x for x in catalog(data, 1)[0] if x.start_ms > back[-1].end_ms]) >= 3, 30,
                 what="3 segments after the outage")  # fmt: skip
        time.sleep(2.5)  # a few more storage passes with the clock back
        segs, gaps = catalog(data, 1)

        steps = sorted(e["step_ms"] for e in events(data, "system.clock_jump"))
        print(f"clock_jump steps (ms): {steps}; segments: {len(segs)}")
        assert len(steps) == 2, steps
        assert abs(steps[0] + HOUR_MS) < 2000 and abs(steps[1] - HOUR_MS) < 2000, steps

        # No overlap; the timeline is ordered.
        assert overlaps(segs) == []
        assert all(a.end_ms <= b.start_ms for a, b in zip(segs, segs[1:], strict=False))
        for g in gaps:
            end = g.end_ms if g.end_ms is not None else segs[-1].end_ms
            inside = [s.id for s in segs if s.start_ms < end and s.end_ms > g.start_ms]
            assert not inside, f"gap {g.reason} {g.start_ms}-{end} overlaps segments {inside}"
        # The +1 h step is one clock_adjusted gap of about an hour, and the timeline has no hole.
        adjusted = [g for g in gaps if g.reason == "clock_adjusted"]
        assert len(adjusted) == 1 and abs((adjusted[0].end_ms or 0) - adjusted[0].start_ms - HOUR_MS) < 5000, adjusted
        assert uncovered(segs, gaps, segs[0].start_ms, segs[-1].end_ms, segs[-1].end_ms) == []
        crashed = [g for g in gaps if g.reason == "capture_crashed"]
        print(f"outage after the step back: {[(g.end_ms or 0) - g.start_ms for g in crashed]} ms")
        assert len(crashed) == 1 and (crashed[0].end_ms or 0) - crashed[0].start_ms >= 400, crashed

        # No retention deletion: every segment from before the steps is still there.
        assert {s.id for s in before} <= {s.id for s in segs}
        assert events(data, "retention.deleted") == []

        # The shipped rule told the administrators: one technical alarm for the clock, both steps in it.
        def clock_alarm() -> dict | None:
            found = [a for a in ronda.api("GET", "/api/v1/alarms").json() if a["title"] == "The server's clock jumped"]
            return found[0] if found and found[0]["event_count"] == 2 else None

        alarm = wait_for(clock_alarm, 15, what="the clock alarm with both steps")
        assert alarm["priority"] == "medium" and alarm["category"] == "technical", alarm

        # Durations from the camera's timestamps, not the wall clock: each row's length is its file's.
        worst = 0
        for s in segs:
            diff = abs((s.end_ms - s.start_ms) - media_ms(data / "recordings" / s.path))
            worst = max(worst, diff)
            assert s.end_ms - s.start_ms < 3 * SEGMENT_S * 1000, f"segment {s.id} lasts {s.end_ms - s.start_ms} ms"
        print(f"largest |catalog duration - file duration|: {worst} ms")
        assert worst <= 250

        # The API's timeline agrees and is ordered.
        r = ronda.api("GET", "/api/v1/cameras/1/recordings",
                      params={"start": iso(segs[0].start_ms), "end": iso(segs[-1].end_ms + HOUR_MS)})  # fmt: skip
        assert r.status_code == 200, r.text
        listed = r.json()["segments"]  # (recording went on since the catalog was read)
        assert [x["start"] for x in listed[: len(segs)]] == [iso(s.start_ms) for s in segs]
        assert all(a["end"] <= b["start"] for a, b in zip(listed, listed[1:], strict=False)), listed
        assert_catalog_matches_files(data, [1])
    finally:
        ronda.close()


# --- the disk fills during an export and recording ------------------------------------------------
@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)], capture_output=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()}): real disk-full test not run")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def fill(disk: Path, leave: int) -> Path:
    """Another program fills the disk, leaving ``leave`` bytes free."""
    filler = disk / "filler.bin"
    st = os.statvfs(disk)
    size = st.f_bavail * st.f_frsize - leave
    with filler.open("wb") as f:
        chunk = b"\0" * (1 << 20)
        while size > 0:
            size -= f.write(chunk[: min(len(chunk), size)])
    return filler


def footage(data: Path) -> int:
    return sum(s.bytes for cid in (1, 2) for s in catalog(data, cid)[0])


def test_disk_full_during_export_and_recording(cams, tmp_path, small_disk):
    data = tmp_path / "data"
    data.mkdir()
    (small_disk / "rec").mkdir()
    (small_disk / "exports").mkdir()
    (data / "recordings").symlink_to(small_disk / "rec")
    (data / "exports").symlink_to(small_disk / "exports")
    subprocess.run([sys.executable, "-m", "ronda.cli", "storage", "init", str(small_disk / "rec")], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    stop = 4_000_000
    port = free_port()
    cfg = write_config(
        data, port,
        [{"name": "A", "main": {"url": cams.url("cam1")}}, {"name": "B", "main": {"url": cams.url("cam2")}}],
        recording={"segment_seconds": SEGMENT_S},
        storage={"check_interval_seconds": 1, "delete_below_free_percent": 0, "stop_below_free_bytes": stop},
    )  # fmt: skip
    ronda = RondaProcess(cfg, tmp_path / "ronda.log", port)
    ronda.start()
    filler: Path | None = None
    try:
        # Enough footage that its export cannot fit in what is left once the disk is nearly full.
        wait_for(lambda: footage(data) > 3_000_000 and len(catalog(data, 2)[0]) >= 3, 60, what="3 MB of footage")
        lock_all(data, 1)
        lock_all(data, 2)  # retention can free nothing: only the operator can
        t0 = min(s.start_ms for cid in (1, 2) for s in catalog(data, cid)[0])
        t1 = max(s.end_ms for cid in (1, 2) for s in catalog(data, cid)[0])
        filler = fill(small_disk, stop + 1_500_000)
        r = ronda.api("POST", "/api/v1/exports", json={"cameras": [1, 2], "start": iso(t0), "end": iso(t1),
                                                         "reason": "disk full test"})  # fmt: skip
        assert r.status_code == 202, r.text
        job = r.json()["id"]
        done = wait_for(lambda: (j := ronda.api("GET", f"/api/v1/exports/{job}").json())["status"] != "running" and j,
                        60, what="the export to end")  # fmt: skip
        print(f"export: {done['status']}: {done['error']}; footage {footage(data)} bytes")
        assert done["status"] == "failed"
        assert "no space left" in done["error"] and "nothing was exported" in done["error"], done["error"]
        assert "Traceback" not in done["error"]
        left = sorted(p.name for p in (small_disk / "exports").iterdir())
        assert left == [], f"the failed export left {left}"
        assert ronda.api("GET", f"/api/v1/exports/{job}/download").status_code in (404, 409, 410, 422)

        # Recording pauses with disk_full on both cameras, says so, and loses nothing already recorded.
        for cid in (1, 2):
            wait_for(lambda c=cid: [g for g in catalog(data, c)[1] if g.reason == "disk_full" and g.end_ms is None],
                     30, what=f"an open disk_full gap on camera {cid}")  # fmt: skip
        health = wait_for(lambda: (h := ronda.api("GET", "/api/v1/health").json())["checks"]["storage"]["state"]
                          == "disk_full" and h, 20, what="health storage disk_full")  # fmt: skip
        assert health["status"] == "degraded"
        assert events(data, "storage.full"), "no storage.full event"
        paused = assert_catalog_matches_files(data, [1, 2])
        time.sleep(3)
        assert sum(len(catalog(data, c)[0]) for c in (1, 2)) == paused, "recorded while the disk was full"

        # The operator frees space: recording resumes by itself, the gaps close.
        filler.unlink()
        t = int(time.time() * 1000)
        for cid in (1, 2):
            wait_for(lambda c=cid: [s for s in catalog(data, c)[0] if s.start_ms > t], 40,
                     what=f"camera {cid} to record again")  # fmt: skip
            full = [g for g in catalog(data, cid)[1] if g.reason == "disk_full"]
            assert full and all(g.end_ms is not None for g in full), full
            segs, gaps = catalog(data, cid)
            assert overlaps(segs) == []
            assert uncovered(segs, gaps, segs[0].start_ms, segs[-1].end_ms, segs[-1].end_ms) == []
        assert_catalog_matches_files(data, [1, 2])
        # And the same export now succeeds.
        r = ronda.api("POST", "/api/v1/exports", json={"cameras": [1, 2], "start": iso(t0), "end": iso(t1)})
        job = r.json()["id"]
        done = wait_for(lambda: (j := ronda.api("GET", f"/api/v1/exports/{job}").json())["status"] != "running" and j,
                        60, what="the second export to end")  # fmt: skip
        assert done["status"] == "done", done
    finally:
        ronda.close()
        if filler is not None:
            filler.unlink(missing_ok=True)


def test_package_that_does_not_fit_leaves_no_partial_file(tmp_path, small_disk):
    """The zip stage of an export on a full disk (the test above fails in the remux, before it)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ronda.media import evidence

    video = tmp_path / "video.mp4"  # on the big disk: only the package goes to the small one
    video.write_bytes(os.urandom(3_000_000))
    filler = fill(small_disk, 1_000_000)
    out = small_disk / "case.zip"
    with pytest.raises(OSError) as e:
        evidence.write_package(out, {"files": []}, [(video, "video.mp4")], Ed25519PrivateKey.generate())
    assert e.value.errno == 28  # ENOSPC
    assert sorted(p.name for p in small_disk.iterdir()) == [filler.name], "a half-written package stayed"


# --- power cut ------------------------------------------------------------------------------------
def test_power_cut_leaves_no_catalog_row_without_its_data(cams, tmp_path):
    data = tmp_path / "data"
    port = free_port()
    cfg = write_config(
        data, port,
        [{"name": "A", "main": {"url": cams.url("cam1")}}, {"name": "B", "main": {"url": cams.url("cam2")}}],
        recording={"segment_seconds": SEGMENT_S},
    )  # fmt: skip
    ronda = RondaProcess(cfg, tmp_path / "ronda.log", port)
    ronda.start()
    try:
        wait_for(lambda: len(catalog(data, 1)[0]) >= 3 and len(catalog(data, 2)[0]) >= 3, 40, what="3 segments each")
        time.sleep(SEGMENT_S / 2)  # mid-segment: each ffmpeg has an unfinished file with unsynced writes
        children = ffmpeg_children_of(data)
        assert len(children) == 2, children
        # The power goes: every process at once, no chance to close or flush anything.
        for pid in [ronda.pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        ronda.proc.wait(10)  # type: ignore[union-attr]
        ronda.proc = None
        wait_for(lambda: ffmpeg_children_of(data) == [], 10, what="the ffmpeg children to be gone")
        dropped = Path("/proc/sys/vm/drop_caches")
        try:
            dropped.write_text("3\n")  # no sync first: clean pages go, what the kernel kept dirty is all left
        except OSError as e:
            print(f"drop_caches not possible here ({e}): page cache kept")
        before = {cid: catalog(data, cid)[0] for cid in (1, 2)}
        partials = sorted(p.name for p in (data / "recordings" / ".partial").rglob("*.partial"))
        print(f"after the cut: {sum(len(v) for v in before.values())} catalogued segments, partial files {partials}")
        assert partials, "no unfinished file at the cut: the test did not cut mid-segment"
        assert_catalog_matches_files(data, [1, 2])

        t = int(time.time() * 1000)
        ronda.spawn()
        for cid in (1, 2):
            wait_for(lambda c=cid: [s for s in catalog(data, c)[0] if s.start_ms > t], 40,
                     what=f"camera {cid} to record again")  # fmt: skip
        n = assert_catalog_matches_files(data, [1, 2])
        for cid in (1, 2):
            segs, gaps = catalog(data, cid)
            old: list[SegRow] = before[cid]
            assert {s.id for s in old} <= {s.id for s in segs}, "a catalogued segment vanished"
            assert overlaps(segs) == []
            recovered = [s for s in segs if s.recovered]
            print(f"camera {cid}: {len(segs)} segments, {len(recovered)} recovered from the cut, gaps "
                  f"{[(g.reason, g.end_ms - g.start_ms if g.end_ms else None) for g in gaps]}")  # fmt: skip
            assert any(g.reason == "recorder_restart" for g in gaps)
            assert uncovered(segs, gaps, segs[0].start_ms, segs[-1].end_ms, segs[-1].end_ms) == []
        left = sorted(p.name for p in (data / "recordings" / ".partial").rglob("*.partial"))
        assert all(p not in left for p in partials), f"unfinished files of the cut left behind: {left}"
        print(f"after the restart: {n} segments, every file present with its size and SHA-256")
    finally:
        ronda.close()
