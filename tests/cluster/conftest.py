"""Fixtures of the cluster tests (issue 15)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from ronda.store.cluster_models import CameraLease, Node
from ronda.store.db import Database
from ronda.store.models import Segment
from ronda.timeutil import now_ms
from tests.helpers import RondaProcess, free_port, write_config, write_private

SCRAPE_TOKEN = "scrape-" + uuid.uuid4().hex  # noqa: S105 - a test's own token


class NodeProcess(RondaProcess):
    """``ronda serve --role ROLE`` as a child process; ready once its health answers at all (an API-only
    node reports its recorder as absent)."""

    def start(self, timeout: float = 40) -> None:
        self.prepare()
        self.spawn(timeout, healthy=lambda status: status < 500)


@dataclass
class OpsNodes:
    """A recorder node ``r1`` (every role, cluster.node r1) and an API-only node ``a1`` on one PostgreSQL."""

    recorder: NodeProcess
    api: NodeProcess
    r1_dir: Path
    db: Database
    camera_id: int

    def mark_r1(self) -> None:
        """r1's rows name r1 (the recorder writes ``node="local"`` until the leases part names its node)."""
        with self.db.session() as s:
            s.execute(update(Segment).where(Segment.node == "local").values(node="r1"))


def own_database(pg_url: str) -> str:
    """A database of its own on the session's server (other tests drop the shared one's schema)."""
    name = "ronda_ops_" + uuid.uuid4().hex[:8]
    admin = Database(pg_url)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_url.rsplit("/", 1)[0] + "/" + name


def register(db: Database, name: str, url: str, camera_id: int | None) -> None:
    """The node's row and the camera's lease, unless the node registered itself already (leases part)."""
    now = now_ms()
    with db.session() as s:
        if s.scalar(select(Node).where(Node.name == name)) is None:
            s.add(Node(name=name, roles=["recorder", "api", "events", "analytics"], url=url, capacity=100, epoch=1,
                       started_ms=now, last_seen_ms=now))  # fmt: skip
        if camera_id is not None and s.get(CameraLease, camera_id) is None:
            s.add(CameraLease(camera_id=camera_id, node=name, epoch=1, expires_ms=now + 3_600_000, acquired_ms=now))


@pytest.fixture(scope="session")
def ops_nodes(sim, pg_url, tmp_path_factory) -> Iterator[OpsNodes]:  # noqa: ANN001 - fixtures
    base = tmp_path_factory.mktemp("ops")
    url = own_database(pg_url)
    token_file = base / "scrape.token"
    write_private(token_file, SCRAPE_TOKEN.encode())
    r_port, a_port = free_port(), free_port()
    r1_dir, a1_dir = base / "r1", base / "a1"
    common = {"database": {"url": url}, "http": {"metrics_token_file": str(token_file)}}
    r_cfg = write_config(r1_dir, r_port, [{"name": "Ops cam", "main": {"url": sim.url("cam3")}}], **common,
                         cluster={"node": "r1", "advertise_url": f"http://127.0.0.1:{r_port}"})  # fmt: skip
    a_cfg = write_config(a1_dir, a_port, [], **common,
                         cluster={"node": "a1", "advertise_url": f"http://127.0.0.1:{a_port}"})  # fmt: skip
    recorder = NodeProcess(r_cfg, base / "r1.log", r_port, "all")
    api = NodeProcess(a_cfg, base / "a1.log", a_port, "api")
    db = Database(url)
    try:
        recorder.start()
        # Every node of a site holds the same keys (the deployment copies them).
        shutil.copytree(r1_dir / "keys", a1_dir / "keys", dirs_exist_ok=True)
        api.start()
        with db.session() as s:
            from ronda.store.models import Camera

            camera_id = s.scalar(select(Camera.id).where(Camera.name == "Ops cam"))
        assert camera_id is not None
        register(db, "r1", f"http://127.0.0.1:{r_port}", camera_id)
        register(db, "a1", f"http://127.0.0.1:{a_port}", None)
        yield OpsNodes(recorder, api, r1_dir, db, camera_id)
    finally:
        api.close()
        recorder.close()
        db.dispose()
