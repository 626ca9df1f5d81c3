"""Every node in ``nodes``, on SQLite and on a real PostgreSQL (``ronda.store.cluster_repo``,
``ronda.cluster.presence``; docs/cluster.md, "The nodes of a site").

A node of any role registers (roles, URL, version), is ``up`` while it heartbeats, ``down`` once its
heartbeat is older than the TTL, ``stopped`` after a clean stop, and up again at its next start; a stopped
recorder leaves the others' live capacity at once; an old run cannot mark its restarted node stopped.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from ronda import __version__
from ronda.cluster.presence import NodePresence
from ronda.config import ClusterConfig
from ronda.store import cluster_repo
from ronda.store.cluster_models import Node
from ronda.timeutil import now_ms
from tests.cluster.busy import busy_default_executor

TTL = 10_000


@pytest.fixture
def db(migrated_db):
    return migrated_db


def _nodes(db, now: int) -> dict[str, cluster_repo.NodeInfo]:
    with db.session() as s:
        return {n.name: n for n in cluster_repo.list_nodes(s, now, TTL)}


def test_api_node_up_down_stopped_and_back(db):
    with db.session() as s:
        e1 = cluster_repo.register_node(s, "api1", ["api"], "http://10.0.0.5:8080", 0, 1000, "9.9")
        cluster_repo.register_node(s, "rec1", ["recorder"], None, 50, 1000)
    n = _nodes(db, 2000)
    assert (n["api1"].state, n["api1"].roles, n["api1"].url, n["api1"].version) == (
        "up", ("api",), "http://10.0.0.5:8080", "9.9")  # fmt: skip
    assert n["api1"].capacity is None and n["rec1"].capacity == 50  # capacity is a recorder's only
    with db.session() as s:
        cluster_repo.heartbeat(s, "api1", 5000)
    assert _nodes(db, 5000 + TTL - 1)["api1"].state == "up"
    assert _nodes(db, 5000 + TTL + 1)["api1"].state == "down"  # killed: no heartbeat for a TTL, no clean stop
    with db.session() as s:
        e2 = cluster_repo.register_node(s, "api1", ["api"], "http://10.0.0.5:8080", 0, 20_000, "9.9")
    assert e2 == e1 + 1 and _nodes(db, 20_001)["api1"].state == "up"  # restarted: back
    with db.session() as s:
        assert not cluster_repo.mark_stopped(s, "api1", e1, 21_000)  # the old run cannot say the new one stopped
        assert cluster_repo.mark_stopped(s, "api1", e2, 21_000)
    n = _nodes(db, 21_001)["api1"]
    assert (n.state, n.stopped_ms) == ("stopped", 21_000)
    assert _nodes(db, 21_000 + 5 * TTL)["api1"].state == "stopped"  # stays stopped, never shown down
    with db.session() as s:
        cluster_repo.register_node(s, "api1", ["api"], None, 0, 90_000)
    n = _nodes(db, 90_001)["api1"]
    assert (n.state, n.stopped_ms) == ("up", None)


def test_stopped_recorder_leaves_the_live_capacity_at_once(db):
    with db.session() as s:
        cluster_repo.register_node(s, "a", ["recorder"], None, 100, 1000)
        eb = cluster_repo.register_node(s, "b", ["recorder"], None, 100, 1000)
    with db.session() as s:
        assert sorted(n.name for n in cluster_repo.live_nodes(s, 1500, TTL)) == ["a", "b"]
        cluster_repo.mark_stopped(s, "b", eb, 1500)
    with db.session() as s:
        assert [n.name for n in cluster_repo.live_nodes(s, 1600, TTL)] == ["a"]


def test_each_node_is_judged_by_its_own_ttl_not_the_viewers(db):
    """A node configured with a longer TTL beats less often: it is up (and live) for the whole of its own
    TTL, whatever the viewer's; one with a shorter TTL is down after its own; a row that names no TTL (from
    before migration 0029) is judged by the viewer's."""
    with db.session() as s:
        cluster_repo.register_node(s, "slow", ["recorder"], None, 10, 1000, ttl_ms=3 * TTL)
        cluster_repo.register_node(s, "quick", ["api"], None, 0, 1000, ttl_ms=TTL // 2)
        cluster_repo.register_node(s, "old", ["recorder"], None, 10, 1000)
    later = 1000 + TTL + 1  # past the viewer's TTL, within slow's own
    n = _nodes(db, 1000 + TTL - 1)
    assert (n["slow"].state, n["quick"].state, n["old"].state) == ("up", "down", "up")
    n = _nodes(db, later)
    assert (n["slow"].state, n["quick"].state, n["old"].state) == ("up", "down", "down")
    with db.session() as s:
        assert [x.name for x in cluster_repo.live_nodes(s, later, TTL)] == ["slow"]
        assert cluster_repo.live_nodes(s, 1000 + 3 * TTL + 1, TTL) == []
    assert _nodes(db, 1000 + 3 * TTL + 1)["slow"].state == "down"


def test_presence_registers_heartbeats_and_stops(db):
    cfg = ClusterConfig(node="api7", advertise_url="http://127.0.0.1:1", lease_ttl_seconds=2)

    async def run() -> tuple[cluster_repo.NodeInfo, int, int]:
        p = NodePresence(db, cfg, frozenset({"api", "events"}))
        await p.start()
        first = _nodes(db, now_ms())["api7"]
        await asyncio.sleep(1.0)  # one heartbeat (every TTL/3)
        beat = _nodes(db, now_ms())["api7"].last_seen_ms
        await p.stop()
        return first, beat, p.epoch

    first, beat, epoch = asyncio.run(run())
    assert (first.state, first.roles, first.version, first.capacity) == ("up", ("api", "events"), __version__, None)
    assert beat > first.last_seen_ms
    n = _nodes(db, now_ms())["api7"]
    assert (n.state, n.epoch) == ("stopped", epoch)
    with db.session() as s:  # its own TTL, by which the others judge it
        assert s.scalar(select(Node.ttl_ms).where(Node.name == "api7")) == 2000


def test_cli_nodes_on_a_missing_or_empty_data_dir(tmp_path, capsys):
    from ronda import cli

    assert cli.main(["nodes", "--data-dir", str(tmp_path / "none")]) == 2
    assert "no Ronda data in" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()  # (nothing created by looking)
    (tmp_path / "empty").mkdir()
    assert cli.main(["nodes", "--data-dir", str(tmp_path / "empty")]) == 2
    assert "ronda db upgrade" in capsys.readouterr().err


def test_presence_beats_while_the_default_executor_is_busy(db):
    """A node's heartbeat runs in a thread of its own: with every thread of the default executor busy, it
    registers, beats and marks itself stopped (through ``asyncio.to_thread`` each would time out here)."""
    cfg = ClusterConfig(node="api8", advertise_url="http://127.0.0.1:1", lease_ttl_seconds=2)

    async def run() -> tuple[int, int]:
        p = NodePresence(db, cfg, frozenset({"api"}))
        async with busy_default_executor():
            await asyncio.wait_for(p.start(), 10)
            first = _nodes(db, now_ms())["api8"].last_seen_ms
            await asyncio.sleep(1.0)  # one beat (every TTL/3)
            beat = _nodes(db, now_ms())["api8"].last_seen_ms
            await asyncio.wait_for(p.stop(), 10)
        return first, beat

    first, beat = asyncio.run(run())
    assert beat > first
    assert _nodes(db, now_ms())["api8"].state == "stopped"
