"""Exports on a site with several API nodes: the package is on the disk of the node that made it; another
node serves its download by fetching it over the signed internal URL, and a node's start-up fails only its
own interrupted jobs (not one another node is running), and its pruning deletes only its own packages."""

from __future__ import annotations

import hashlib
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from ronda.config import Config
from ronda.media.export_jobs import ExportJobs
from ronda.store.db import Database
from ronda.store.models import ExportJobRow
from ronda.timeutil import now_ms
from tests.cluster.conftest import OpsNodes
from tests.cluster.test_nodes_fetch import first_segment
from tests.helpers import wait_for


@pytest.mark.postgres
def test_an_export_made_on_one_node_downloads_from_another(ops_nodes: OpsNodes) -> None:
    seg = first_segment(ops_nodes)
    made_on, other = ops_nodes.recorder, ops_nodes.api
    body = {"cameras": [ops_nodes.camera_id], "start": seg["start"], "end": seg["end"], "reason": "cluster test"}
    r = made_on.api("POST", "/api/v1/exports", json=body)
    assert r.status_code in (200, 201, 202), r.text
    job = r.json()["id"]
    wait_for(lambda: other.api("GET", f"/api/v1/exports/{job}").json()["status"] == "done", 60,
             what="the export done, seen from the other node")  # fmt: skip
    got = other.api("GET", f"/api/v1/exports/{job}/download")
    assert got.status_code == 200, got.text
    package = ops_nodes.r1_dir / "exports" / f"{job}.zip"
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(package.read_bytes()).digest()
    assert "manifest.json" in zipfile.ZipFile(BytesIO(got.content)).namelist()
    assert not (ops_nodes.r1_dir.parent / "a1" / "exports" / f"{job}.zip").exists()  # fetched, not made there
    r = other.api("DELETE", f"/api/v1/exports/{job}")
    assert r.status_code == 204, r.text


def test_a_node_recovers_and_prunes_only_its_own_jobs(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.upgrade()
    try:
        cfg = Config(data_dir=tmp_path / "a1")
        old = now_ms() - 40 * 86_400_000
        with db.session() as s:
            for jid, node, status, finished in (
                ("run-a1", "a1", "running", None),
                ("run-a2", "a2", "running", None),
                ("old-a1", "a1", "done", old),
                ("old-a2", "a2", "done", old),
            ):
                s.add(ExportJobRow(id=jid, owner_id=1, owner="u", cameras=[1], start_ms=0, end_ms=1, stream="main",
                                   name=f"{jid}.zip", status=status, created_ms=old, finished_ms=finished,
                                   node=node))  # fmt: skip
        jobs = ExportJobs(db, cfg, audit=None, node="a1")  # type: ignore[arg-type]
        jobs.folder.mkdir(parents=True)
        for name in ("old-a1", "gone"):  # gone: a package whose job was deleted through another node
            (jobs.folder / f"{name}.zip").write_bytes(b"zip")
        assert jobs.recover() == 1
        assert jobs.prune() == 1
        with db.session() as s:
            status = {r.id: r.status for r in s.query(ExportJobRow)}
        assert status == {"run-a1": "failed", "run-a2": "running", "old-a1": "expired", "old-a2": "done"}
        assert list(jobs.folder.iterdir()) == []
    finally:
        db.dispose()
