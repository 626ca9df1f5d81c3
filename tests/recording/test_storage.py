"""Storage limits with a real recorder: budget, evidence locks, a real full disk (tmpfs), unmount.

The tmpfs part needs `mount` (root); where it cannot run it is skipped with the reason.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import RondaProcess, catalog, free_port, wait_for, write_config


def now_ms() -> int:
    return int(time.time() * 1000)


def db_exec(data_dir: Path, sql: str, args: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(data_dir / "ronda.db", timeout=30)
    try:
        with con:
            return list(con.execute(sql, args))
    finally:
        con.close()


def lock(data_dir: Path, camera_id: int, start: int, end: int) -> int:
    con = sqlite3.connect(data_dir / "ronda.db", timeout=30)
    try:
        with con:
            cur = con.execute(
                "INSERT INTO evidence_locks (camera_id, start_ms, end_ms, reason, created_by, created_ms) "
                "VALUES (?, ?, ?, 'case 42', 'test', ?)",
                (camera_id, start, end, now_ms()),
            )
            return int(cur.lastrowid)
    finally:
        con.close()


def events(data_dir: Path, type_: str) -> list[tuple]:
    return db_exec(data_dir, "SELECT time_ms, camera_id, payload FROM events WHERE type=?", (type_,))


def used(data_dir: Path) -> int:
    return db_exec(data_dir, "SELECT COALESCE(SUM(bytes), 0) FROM segments")[0][0]


def all_files_exist(data_dir: Path) -> None:
    for (path,) in db_exec(data_dir, "SELECT path FROM segments"):
        assert (data_dir / "recordings" / path).exists(), path
        assert path.endswith(".mp4")


def test_budget_retention_and_locks(sim, tmp_path):
    data = tmp_path / "data"
    port = free_port()
    budget = 8_000_000
    cfg = write_config(
        data, port, [{"name": "A", "main": {"url": sim.url("cam1")}}],
        storage={"max_bytes": budget, "check_interval_seconds": 1, "delete_below_free_percent": 0},
    )  # fmt: skip
    ronda = RondaProcess(cfg, tmp_path / "ronda.log", port)
    ronda.start()
    try:
        segs = wait_for(lambda: len(catalog(data, 1)[0]) >= 2 and catalog(data, 1)[0], 30, what="2 segments")
        locked = segs[:2]
        lock(data, 1, locked[0].start_ms, locked[1].end_ms)
        wait_for(lambda: events(data, "retention.deleted"), 60, what="retention to delete footage")
        audited = ronda.api("GET", "/api/v1/audit", params={"actor": "system:retention"}).json()
        assert audited and audited[0]["action"] == "retention.delete" and audited[0]["start"] is not None
        time.sleep(3)
        remaining = {s.id for s in catalog(data, 1)[0]}
        assert {s.id for s in locked} <= remaining, "locked footage was deleted"
        segs_now = catalog(data, 1)[0]
        assert segs_now[2].start_ms > locked[1].end_ms  # oldest unlocked went first
        seg_size = max(s.bytes for s in segs_now)
        assert used(data) <= budget + 2 * seg_size
        assert segs_now[-1].end_ms > now_ms() - 15_000  # still recording
        all_files_exist(data)
        # Lock everything: the budget cannot be met; the system says so and keeps recording.
        lock(data, 1, 0, now_ms() + 3_600_000)
        wait_for(lambda: events(data, "storage.locked_full"), 60, what="storage.locked_full event")
        health = ronda.api("GET", "/api/v1/health").json()
        assert health["status"] == "degraded" and health["checks"]["storage"]["state"] == "locked_full"
        n = len(catalog(data, 1)[0])
        wait_for(lambda: len(catalog(data, 1)[0]) > n, 20, what="recording to go on")
    finally:
        ronda.close()


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()}): real disk-full test not run")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def test_real_full_disk_and_unmounted_volume(sim, tmp_path, tmpfs):
    data = tmp_path / "data"
    data.mkdir()
    rec = data / "recordings"
    rec.symlink_to(tmpfs)  # recordings live on the small disk
    subprocess.run([".venv/bin/ronda", "storage", "init", str(tmpfs)], check=True, capture_output=True)
    port = free_port()
    cfg = write_config(
        data, port,
        [{"name": "A", "main": {"url": sim.url("cam1")}}, {"name": "B", "main": {"url": sim.url("cam3")}}],
        storage={"check_interval_seconds": 1, "delete_below_free_percent": 20, "stop_below_free_bytes": 3_000_000},
    )  # fmt: skip
    ronda = RondaProcess(cfg, tmp_path / "ronda.log", port)
    ronda.start()
    try:
        wait_for(lambda: catalog(data, 1)[0] and catalog(data, 2)[0], 30, what="both cameras recording")
        lock_id = lock(data, 2, 0, now_ms() + 3_600_000)  # all of B is evidence
        lock(data, 1, 0, now_ms() + 3_600_000)  # and all of A: nothing can be freed
        wait_for(lambda: [g for g in catalog(data, 1)[1] if g.reason == "disk_full"], 90, what="a disk_full gap")
        health = ronda.api("GET", "/api/v1/health").json()
        assert health["status"] == "degraded"
        assert health["checks"]["storage"]["state"] in ("disk_full", "locked_full")
        all_files_exist(data)
        # Unlock: retention frees space and recording resumes by itself.
        db_exec(data, "DELETE FROM evidence_locks WHERE id != ?", (lock_id,))
        t = now_ms()
        wait_for(lambda: [s for s in catalog(data, 1)[0] if s.start_ms > t], 40, what="recording to resume")
        gaps = [g for g in catalog(data, 1)[1] if g.reason == "disk_full"]
        assert gaps[0].end_ms is not None
        assert {s.id for s in catalog(data, 2)[0]}, "camera B's locked footage survives"
        all_files_exist(data)
        # The disk goes away: refuse to write to the bare mount point (root disk), report it.
        subprocess.run(["umount", "-l", str(tmpfs)], check=True)
        wait_for(lambda: [g for g in catalog(data, 1)[1] if g.reason == "volume_missing" and g.end_ms is None], 20,
                 what="a volume_missing gap")  # fmt: skip
        time.sleep(3)
        assert list(tmpfs.iterdir()) == [], "wrote into the unmounted mount point"
        assert ronda.api("GET", "/api/v1/health").json()["checks"]["storage"]["state"] == "volume_missing"
    finally:
        ronda.close()
