"""A recorder node giving cameras up stops them together (``Recorder.sync_catalog``; docs/cluster.md,
"Balance by capacity").

The node taking the cameras over waits for the leases, which are freed once the last of them is stopped:
stopped one after another, the first camera's hole grew by every later camera's stop (ffmpeg's exit and
the last segment's row). Each stop here waits until every stop has begun, so the test fails (times out)
when the recorder runs them in turn. On SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ronda.access.secrets import SecretBox
from ronda.config import load_config
from ronda.recording.recorder import Recorder
from ronda.recording.segments import Writer
from ronda.recording.supervisor import StreamSpec
from ronda.store import cluster_repo
from ronda.store.models import Camera, CameraStream
from tests.cluster.lease_view import LeaseView

TTL = 60_000
CAMERAS = 3


class _Capture:
    """Stands for a running ``StreamRecorder``: its stop ends only once every camera's stop has begun."""

    def __init__(self, begun: list[int], everyone: asyncio.Event, camera: int, epoch: int) -> None:
        self.begun, self.everyone, self.camera = begun, everyone, camera
        self.spec = StreamSpec(camera_id=camera, stream="main", url="rtsp://127.0.0.1:1/x", codec=None, audio=False)
        self.writer = Writer("a", epoch)
        self.reason: str | None = None

    async def stop(self, reason: str = "ronda_stopped", detail: str | None = None) -> None:
        self.reason = reason
        self.begun.append(self.camera)
        if len(self.begun) == CAMERAS:
            self.everyone.set()
        await asyncio.wait_for(self.everyone.wait(), 5)


def test_cameras_given_up_are_stopped_together(migrated_db, tmp_path: Path):
    db = migrated_db
    with db.session() as s:
        cams = []
        for k in range(CAMERAS):
            cam = Camera(name=f"c{k}", created_ms=0)
            s.add(cam)
            s.flush()
            s.add(CameraStream(camera_id=cam.id, kind="main", url=f"rtsp://127.0.0.1:1/c{k}", record=True))
            cams.append(cam.id)
        cluster_repo.ensure_leases(s, cams, 0)
        taken = cluster_repo.claim(s, "a", cams, CAMERAS, [], 1000, TTL)
    leases = LeaseView("a")
    leases.now = {t.camera_id: (t.epoch, None) for t in taken}
    cfg = load_config(None, overrides={"data_dir": str(tmp_path / "a")})
    recorder = Recorder(cfg, db, SecretBox.load_or_create(tmp_path / "secrets.key"), leases=leases)

    async def run() -> tuple[list[int], list[int], list[_Capture]]:
        begun: list[int] = []
        everyone = asyncio.Event()
        recorder._seen = await asyncio.to_thread(recorder._catalog)  # what the node records now
        assert sorted(recorder._seen) == sorted(cams)
        captures = [_Capture(begun, everyone, c, leases.now[c][0]) for c in cams]
        for c, cap in zip(cams, captures, strict=True):
            recorder.streams[(c, "main")] = cap  # type: ignore[assignment]
        leases.leaving, leases.now = set(cams), {}  # the balance: every camera goes to another node
        reloaded = await recorder.sync_catalog()
        return reloaded, begun, captures

    reloaded, begun, captures = asyncio.run(run())
    assert sorted(reloaded) == sorted(cams), "a stop failed (timed out waiting for the others: run in turn)"
    assert sorted(begun) == sorted(cams)
    assert {c.reason for c in captures} == {"rebalanced"}
    assert recorder.streams == {}
