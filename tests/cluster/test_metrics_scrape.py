"""GET /metrics (src/ronda/cluster/metrics.py, api/routes/metrics.py): the gauges of a recorder node that
recorded a simulator camera and of an API-only node; who may scrape."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from ronda.store.cluster_models import Node
from tests.cluster.conftest import SCRAPE_TOKEN, NodeProcess, OpsNodes
from tests.helpers import wait_for

pytestmark = pytest.mark.postgres


def scrape(node: NodeProcess, token: str = SCRAPE_TOKEN) -> httpx.Response:
    return httpx.get(node.base + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def samples(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(body) for s in fam.samples}  # fmt: skip


def value(found: dict, metric: str, **labels: str) -> float | None:
    return found.get((metric, frozenset(labels.items())))


def test_the_recorder_nodes_gauges(ops_nodes: OpsNodes) -> None:
    cam = str(ops_nodes.camera_id)

    def recording() -> dict | None:
        r = scrape(ops_nodes.recorder)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        found = samples(r.text)
        lag = value(found, "ronda_camera_segment_lag_seconds", camera=cam, name="Ops cam", stream="main")
        ok = value(found, "ronda_camera_recording", camera=cam, name="Ops cam", stream="main", state="recording")
        return found if ok == 1 and lag is not None else None

    found = wait_for(recording, 40, interval=1, what="r1's camera recording in /metrics")
    assert value(found, "ronda_node_up", node="r1") == 1
    for role in ("recorder", "api", "events", "analytics"):
        assert value(found, "ronda_node_role", node="r1", role=role) == 1
    for state in ("starting", "offline", "paused", "stopped"):
        assert value(found, "ronda_camera_recording", camera=cam, name="Ops cam", stream="main", state=state) == 0
    # 4-second segments: the last one ended a few seconds ago.
    assert 0 <= value(found, "ronda_camera_segment_lag_seconds", camera=cam, name="Ops cam", stream="main") < 15
    assert value(found, "ronda_camera_lease", camera=cam, name="Ops cam", node="r1") == 1
    assert value(found, "ronda_node_leases", node="r1") == 1
    with ops_nodes.db.session() as s:
        epoch = s.scalar(select(Node.epoch).where(Node.name == "r1"))
    assert value(found, "ronda_node_epoch", node="r1") == epoch
    assert value(found, "ronda_archive_backlog_segments", node="r1") == 0  # no archive configured
    assert value(found, "ronda_bus_lag_events", node="r1") is not None
    assert 0 <= value(found, "ronda_event_loop_lag_seconds", node="r1") < 1  # type: ignore[operator]


def test_the_api_nodes_gauges(ops_nodes: OpsNodes) -> None:
    r = scrape(ops_nodes.api)
    assert r.status_code == 200, r.text
    found = samples(r.text)
    assert value(found, "ronda_node_up", node="a1") == 1
    assert value(found, "ronda_node_role", node="a1", role="api") == 1
    assert value(found, "ronda_node_role", node="a1", role="recorder") is None
    assert value(found, "ronda_node_leases", node="a1") == 0
    # Recording state is the recording node's to say; the lease holder is in the shared catalog.
    assert not [k for k in found if k[0] == "ronda_camera_recording"]
    assert value(found, "ronda_camera_lease", camera=str(ops_nodes.camera_id), name="Ops cam", node="r1") == 1


def test_no_camera_url_or_credential_in_the_labels(ops_nodes: OpsNodes) -> None:
    body = scrape(ops_nodes.recorder).text
    assert "rtsp://" not in body and "127.0.0.1" not in body


def test_an_unauthorised_scrape_is_refused(ops_nodes: OpsNodes) -> None:
    node = ops_nodes.api
    assert httpx.get(node.base + "/metrics", timeout=10).status_code == 401
    assert scrape(node, "not-the-token").status_code == 401
    assert scrape(node, SCRAPE_TOKEN + "x").status_code == 401
    # An administrator's own credentials (site-scope view_audit) open it too.
    assert node.api("GET", "/metrics").status_code == 200
