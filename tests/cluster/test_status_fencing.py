"""Fenced camera status writes, on SQLite and on a real PostgreSQL (``cluster_repo.set_camera_status_fenced``,
``ronda.recording.recorder``; docs/cluster.md, "Leases and failover").

A recorder that lost a camera's lease (another node took it under a newer epoch) changes neither the
camera's status row nor writes a ``camera.*`` event, through the recorder's real status path; the holder
does. On PostgreSQL a status write racing a takeover waits for it and is then refused.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from ronda.access.secrets import SecretBox
from ronda.config import load_config
from ronda.recording.recorder import Recorder
from ronda.recording.segments import Writer
from ronda.recording.supervisor import StreamRecorder, StreamSpec
from ronda.store import cluster_repo, repos
from ronda.store.models import Camera, Event
from tests.cluster.lease_view import LeaseView
from tests.cluster.takeover import write_during_takeover

TTL = 10_000


@pytest.fixture
def db(migrated_db):
    return migrated_db


def _camera(db) -> int:
    with db.session() as s:
        cam = Camera(name="c", created_ms=0)
        s.add(cam)
        s.flush()
        cluster_repo.ensure_leases(s, [cam.id], 0)
        return cam.id


def _events(s, cam: int) -> list[Event]:
    return list(s.scalars(select(Event).where(Event.camera_id == cam).order_by(Event.id)))


def test_status_write_with_a_stale_epoch_changes_nothing(db):
    cam = _camera(db)
    with db.session() as s:
        (a,) = cluster_repo.claim(s, "a", [cam], 1, [], 1000, TTL)
    with db.session() as s:
        assert cluster_repo.set_camera_status_fenced(s, cam, "recording", None, "a", a.epoch)
    with db.session() as s:  # a is frozen past the TTL; b takes the camera and records it
        (b,) = cluster_repo.claim(s, "b", [cam], 1, [], 1000 + TTL + 1, TTL)
        assert cluster_repo.set_camera_status_fenced(s, cam, "recording", "by b", "b", b.epoch)
    with db.session() as s:  # a thaws: its stream looks stalled to it
        assert not cluster_repo.set_camera_status_fenced(s, cam, "offline", "stall", "a", a.epoch)
        assert not cluster_repo.set_camera_status_fenced(s, cam, "offline", "stall", "b", a.epoch)  # name alone: no
    with db.session() as s:
        row = s.get(Camera, cam)
        assert (row.status, row.status_reason) == ("recording", "by b")


def test_status_write_waits_for_a_takeover_in_progress(db):
    """The conditional UPDATE locks the lease row for share: a takeover committing meanwhile fences it."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    cam = _camera(db)
    with db.session() as s:
        (a,) = cluster_repo.claim(s, "a", [cam], 1, [], 1000, TTL)
        repos.set_camera_status(s, cam, "recording", "by a")

    def writer_a() -> bool:
        with db.session() as s:
            return cluster_repo.set_camera_status_fenced(s, cam, "offline", "stall", "a", a.epoch)

    assert write_during_takeover(db, cam, TTL, writer_a) is False
    with db.session() as s:
        assert s.get(Camera, cam).status == "recording"


def _report(db, tmp_path: Path, node: str, epoch: int, cam: int, state: str, reason: str | None) -> None:
    """What a recorder does when a stream's state changes: its real ``_on_status`` (status row + event),
    for a stream captured under ``epoch`` (the stream is built, not started) by a node whose lease view is now
    empty; returns when the write is done."""
    cfg = load_config(None, overrides={"data_dir": str(tmp_path / node)})
    recorder = Recorder(cfg, db, SecretBox.load_or_create(tmp_path / "secrets.key"), leases=LeaseView(node))
    spec = StreamSpec(camera_id=cam, stream="main", url="rtsp://127.0.0.1:1/x", codec=None, audio=False)
    rec = StreamRecorder(spec, db, cfg.recordings_dir, cfg.recording, writer=Writer(node, epoch))
    recorder.streams[(cam, "main")] = rec

    async def run() -> None:
        done = asyncio.Event()
        recorder.on_events = done.set  # called once the write finished (written or fenced)
        rec.status.state, rec.status.reason = state, reason
        recorder._on_status(rec.key, rec.status)
        await asyncio.wait_for(done.wait(), 10)

    asyncio.run(run())


def test_thawed_recorder_status_path_is_fenced(db, tmp_path):
    cam = _camera(db)
    with db.session() as s:
        (a,) = cluster_repo.claim(s, "a", [cam], 1, [], 1000, TTL)
    with db.session() as s:
        (b,) = cluster_repo.claim(s, "b", [cam], 1, [], 1000 + TTL + 1, TTL)
    _report(db, tmp_path, "b", b.epoch, cam, "recording", None)  # the holder writes
    with db.session() as s:
        assert s.get(Camera, cam).status == "recording"
        before = len(_events(s, cam))
    _report(db, tmp_path, "a", a.epoch, cam, "offline", "stall")  # the stale node does not
    with db.session() as s:
        row = s.get(Camera, cam)
        assert (row.status, row.status_reason) == ("recording", None)
        assert len(_events(s, cam)) == before, "the stale node wrote a camera event"
    _report(db, tmp_path, "b", b.epoch, cam, "offline", "stall")  # (the same path writes for the holder)
    with db.session() as s:
        assert s.get(Camera, cam).status == "offline"
        assert [e.type for e in _events(s, cam)][-1] == "camera.offline"
