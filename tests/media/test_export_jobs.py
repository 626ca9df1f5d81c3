"""Export jobs outlive the process: a finished package is still listed and downloadable after a
restart, a job a crash interrupted ends as failed (its partial file removed), old packages expire."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys

import pytest

from ronda import runtime
from ronda.media.export import ExportRequest
from ronda.media.export_jobs import DAY_MS, ExportJobs, JobNotFound
from ronda.recording.segments import StreamKey, final_relpath
from ronda.recording.volume import ensure_default_volume
from ronda.store.models import Camera, ExportJobRow, Segment
from ronda.timeutil import now_ms
from tests.helpers import make_fmp4


@pytest.fixture
def env(tmp_path):
    cfg = runtime.data_dir_config(tmp_path / "data", None)
    db = runtime.open_database(cfg, migrate=True)
    audit = runtime.open_audit(cfg, db)
    yield cfg, db, audit
    audit.close()
    db.dispose()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip") / "six.mp4"
    return make_fmp4(out, 6)


def _row(jid: str, status: str, finished_ms: int | None, owner_id: int = 1) -> ExportJobRow:
    return ExportJobRow(id=jid, owner_id=owner_id, owner="op", cameras=[1], start_ms=0, end_ms=1000, stream="main",
                        reason="", case_ref="", name=f"{jid}.zip", status=status, created_ms=0,
                        finished_ms=finished_ms)  # fmt: skip


def test_a_finished_package_survives_a_restart(env, clip, tmp_path):
    cfg, db, audit = env
    start = (now_ms() // 1000 - 3600) * 1000
    ensure_default_volume(cfg.recordings_dir)
    rel = final_relpath(StreamKey(1, "main"), start)
    (cfg.recordings_dir / rel).parent.mkdir(parents=True)
    shutil.copyfile(clip, cfg.recordings_dir / rel)
    with db.session() as s:
        s.add(Camera(id=1, name="Via Roma", created_ms=start))
        s.flush()
        s.add(Segment(camera_id=1, stream="main", start_ms=start, end_ms=start + 6000, bytes=clip.stat().st_size,
                      path=str(rel), sha256="x", codec="h264"))  # fmt: skip

    async def run() -> dict:
        jobs = ExportJobs(db, cfg, audit)
        view = await jobs.start(7, "operator", "127.0.0.1", ExportRequest([1], start + 500, start + 5500, "operator",
                                                                           "dumping", "VV-1"), "via roma")  # fmt: skip
        assert view["status"] == "running" and view["name"] == "via roma.zip"
        for _ in range(600):
            if jobs.get(view["id"], 7, False)["status"] != "running":
                break
            await asyncio.sleep(0.1)
        await jobs.close()
        return jobs.get(view["id"], 7, False)

    done = asyncio.run(run())
    assert done["status"] == "done" and done["progress"] == 1.0 and done["bytes"] > 0, done

    again = ExportJobs(db, cfg, audit)  # a new process: nothing in memory
    assert again.recover() == 0
    assert [j["id"] for j in again.list(7, False)] == [done["id"]] and again.list(8, False) == []
    assert [j["id"] for j in again.list(8, True)] == [done["id"]], "an administrator sees every export"
    with pytest.raises(JobNotFound):
        again.get(done["id"], 8, False)
    pkg = again.package(done["id"], 7, False)
    assert pkg.name == "via roma.zip" and pkg.cameras == [1]
    v = subprocess.run([sys.executable, "-m", "ronda.cli", "verify", str(pkg.path)], capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.startswith("valid"), v.stdout + v.stderr


def test_interrupted_jobs_fail_and_old_packages_expire(env):
    cfg, db, audit = env
    jobs = ExportJobs(db, cfg, audit)
    jobs.folder.mkdir()
    old, recent = now_ms() - 31 * DAY_MS, now_ms() - DAY_MS
    with db.session() as s:
        s.add_all([_row("cut-by-a-crash", "running", None), _row("old-package", "done", old),
                   _row("new-package", "done", recent)])  # fmt: skip
    partial = jobs.folder / "cut-by-a-crash.zip.partial"
    partial.write_bytes(b"half a zip")
    for jid in ("old-package", "new-package"):
        jobs.path(jid).write_bytes(b"a package")

    assert jobs.recover() == 1
    cut = jobs.get("cut-by-a-crash", 1, False)
    assert cut["status"] == "failed" and "interrupted" in cut["error"] and not partial.exists()
    with pytest.raises(ValueError, match="failed"):
        jobs.package("cut-by-a-crash", 1, False)

    assert jobs.prune() == 1  # storage.export_keep_days = 30
    assert jobs.get("old-package", 1, False)["status"] == "expired" and not jobs.path("old-package").exists()
    assert jobs.get("new-package", 1, False)["status"] == "done" and jobs.path("new-package").exists()
    assert jobs.prune(now_ms() + 30 * DAY_MS) == 1 and not jobs.path("new-package").exists()

    asyncio.run(jobs.cancel("new-package", 1, False))  # deleting a finished job forgets it
    with pytest.raises(JobNotFound):
        jobs.get("new-package", 1, False)
    with pytest.raises(JobNotFound):
        asyncio.run(jobs.cancel("old-package", 2, False))
