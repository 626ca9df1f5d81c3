"""The lease SQL and the keeper's decisions, on SQLite and on a real PostgreSQL (``ronda.store.cluster_repo``,
``ronda.cluster.leases``): expiry, SKIP LOCKED with two connections, affinity, balance by capacity, fencing, and the
keeper working while the default executor is busy."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import select

from ronda.cluster.leases import FAILOVER, LeaseKeeper, fair_share
from ronda.config import ClusterConfig
from ronda.recording.segments import Fenced, Writer
from ronda.store import cluster_repo
from ronda.store.cluster_models import CameraLease, Node
from ronda.store.models import Camera
from tests.cluster.busy import busy_default_executor
from tests.cluster.takeover import write_during_takeover

TTL = 10_000


@pytest.fixture
def db(migrated_db):
    return migrated_db


def _cameras(db, n: int, affinity: dict[int, list[str]] | None = None) -> list[int]:
    with db.session() as s:
        cams = [Camera(name=f"c{i}", created_ms=0, node_affinity=(affinity or {}).get(i)) for i in range(n)]
        s.add_all(cams)
        s.flush()
        ids = [c.id for c in cams]
        cluster_repo.ensure_leases(s, ids, 0)
    return ids


def _register(db, name: str, now: int, capacity: int = 100) -> int:
    with db.session() as s:
        return cluster_repo.register_node(s, name, ["recorder"], None, capacity, now)


def test_fair_share():
    assert fair_share(9, 100, 300) == 3
    assert fair_share(9, 100, 200) == 5  # 5 + 4 after a node loss
    assert fair_share(10, 50, 150) == 4  # the small node: ceil(10 × 50/150)
    assert fair_share(10, 100, 150) == 7
    assert fair_share(500, 100, 300) == 100  # never more than its capacity
    assert fair_share(0, 100, 100) == 0


def test_register_bumps_epoch(db):
    assert _register(db, "a", 1000) == 1
    assert _register(db, "a", 2000) == 2
    with db.session() as s:
        live = cluster_repo.live_nodes(s, 2500, TTL)
    assert [(n.name, n.roles) for n in live] == [("a", ("recorder",))]
    with db.session() as s:
        assert cluster_repo.live_nodes(s, 2000 + TTL + 1, TTL) == []


def test_claim_expiry_and_new_epoch(db):
    ids = _cameras(db, 3)
    with db.session() as s:
        taken = cluster_repo.claim(s, "a", ids, 10, [], 1000, TTL)
    assert [(t.camera_id, t.epoch, t.previous_node) for t in taken] == [(c, 1, None) for c in ids]
    held = {t.camera_id: t.epoch for t in taken}
    # Held and not expired: nobody else gets them.
    with db.session() as s:
        assert cluster_repo.claim(s, "b", ids, 10, [], 1000 + TTL - 1, TTL) == []
    # Renewed at 5 s: still valid at 14 s.
    with db.session() as s:
        assert cluster_repo.renew(s, "a", held, 5000, TTL) == set(ids)
    with db.session() as s:
        assert cluster_repo.claim(s, "b", ids, 10, [], 14_000, TTL) == []
    # Expired: b takes them under a new epoch, a's renewal under its old epoch fails (it must stop).
    with db.session() as s:
        taken = cluster_repo.claim(s, "b", ids, 2, [], 15_001, TTL)
    assert [(t.epoch, t.previous_node) for t in taken] == [(2, "a"), (2, "a")]
    with db.session() as s:
        assert cluster_repo.renew(s, "a", held, 15_002, TTL) == {ids[2]}  # only the one b left
    # A release frees a lease at once, without waiting for the TTL.
    with db.session() as s:
        cluster_repo.release(s, "b", {t.camera_id: t.epoch for t in taken})
        assert cluster_repo.claim(s, "c", ids[:1], 1, [], 15_003, TTL)[0].previous_node is None


def test_fencing_check(db):
    (cam,) = _cameras(db, 1)
    with db.session() as s:
        (t,) = cluster_repo.claim(s, "a", [cam], 1, [], 1000, TTL)
    with db.session() as s:
        Writer("a", t.epoch).check(s, cam)  # the holder passes
    with db.session() as s:
        cluster_repo.claim(s, "b", [cam], 1, [], 1000 + TTL + 1, TTL)
    with pytest.raises(Fenced), db.session() as s:
        Writer("a", t.epoch).check(s, cam)  # the stale holder is refused, even with the same name later
    with db.session() as s:
        Writer("local", None).check(s, cam)  # a single box checks nothing


def test_restart_takes_its_earlier_leases_back_at_once(db):
    ids = _cameras(db, 2)
    with db.session() as s:
        first = cluster_repo.claim(s, "a", ids, 2, [], 1000, TTL)
    # The same node restarted (nothing held by this run): its earlier run's leases, before the TTL.
    with db.session() as s:
        again = cluster_repo.claim(s, "a", ids, 2, [], 2000, TTL)
    assert [(t.previous_node, t.epoch) for t in again] == [("a", f.epoch + 1) for f in first]


def test_affinity_and_capacity_balance(db):
    ids = _cameras(db, 6, affinity={0: ["b"], 1: ["b"]})
    cfg = {n: ClusterConfig(node=n, capacity=c, lease_ttl_seconds=10) for n, c in (("a", 200), ("b", 100))}
    a, b = LeaseKeeper(db, cfg["a"]), LeaseKeeper(db, cfg["b"])

    async def run() -> None:
        await a.start(background=False)
        assert set(a.held()) == set(ids[2:])  # alone: everything it may take, not the cameras pinned to b
        with db.session() as s:  # its row names its own TTL, by which the others judge it
            assert s.scalar(select(Node.ttl_ms).where(Node.name == "a")) == 10_000
        await b.start()
        assert set(b.held()) == set(ids[:2])  # b: its pinned cameras; share = ceil(6 × 100/300) = 2
        await a.tick()
        assert len(a.held()) == 4  # a keeps ceil(6 × 200/300) = 4
        await a.stop()
        await b.stop()

    asyncio.run(run())


def test_join_rebalances_and_loss_reassigns(db):
    ids = _cameras(db, 9)
    keepers = [LeaseKeeper(db, ClusterConfig(node=f"n{i}")) for i in range(3)]
    for k in keepers:
        k.ttl_ms = 600  # shorter than the configuration allows: the test waits for it to run out
    changes: list[str] = []

    async def run() -> None:
        await keepers[0].start(background=False)
        assert len(keepers[0].held()) == 9
        await keepers[1].start(background=False)  # share 5 each: n0 gives 4 up at its next tick, n1 takes them
        released = await keepers[0].tick()
        assert len(released.released) == 4
        await keepers[1].tick()
        await keepers[2].start(background=False)
        for k in keepers[:2]:
            await k.tick()
        await keepers[2].tick()
        held = [set(k.held()) for k in keepers]
        assert [len(h) for h in held] == [3, 3, 3]
        assert set().union(*held) == set(ids)
        # n2 stops renewing (frozen): after the TTL the others take its cameras over as a failover.
        for _ in range(8):  # the live nodes keep ticking (renewing) while n2's TTL runs out
            for k in keepers[:2]:
                await k.tick()
            await asyncio.sleep(0.12)
        taken = {c: r for k in keepers[:2] for c, (_e, r) in k.held().items()}
        assert set(taken) == set(ids)
        assert {taken[c] for c in held[2]} == {FAILOVER}
        # The frozen node wakes: its renewal fails, it holds nothing.
        res = await keepers[2].tick()
        assert res.lost == held[2] and not keepers[2].held()
        changes.append("ok")

    asyncio.run(run())
    assert changes == ["ok"]


def test_skip_locked_two_connections(db):
    """Two nodes claiming at the same moment on PostgreSQL: the second skips the rows the first has locked
    (no waiting, no double grant). SQLite serialises its writers instead (nothing to skip)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    ids = _cameras(db, 6)
    locked = threading.Event()
    done = threading.Event()
    first: list[int] = []

    def node_a() -> None:
        with db.session() as s:
            first.extend(t.camera_id for t in cluster_repo.claim(s, "a", ids, 3, [], 1000, TTL))
            locked.set()
            done.wait(10)  # holds its row locks until b has claimed

    t = threading.Thread(target=node_a)
    t.start()
    assert locked.wait(10)
    with db.session() as s:
        second = [x.camera_id for x in cluster_repo.claim(s, "b", ids, 6, [], 1000, TTL)]
    done.set()
    t.join(10)
    assert first == ids[:3]
    assert second == ids[3:]  # not blocked, and none of a's
    with db.session() as s:
        rows = {c: n for c, (n, _e, _x) in cluster_repo.holders(s).items()}
    assert rows == {c: ("a" if c in first else "b") for c in ids}


def test_fencing_waits_for_a_claim_in_progress(db):
    """The stale writer's check locks the lease row: a takeover committing meanwhile makes it fail."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    (cam,) = _cameras(db, 1)
    with db.session() as s:
        (t,) = cluster_repo.claim(s, "a", [cam], 1, [], 1000, TTL)

    def writer_a() -> str:
        try:
            with db.session() as s:
                Writer("a", t.epoch).check(s, cam)
                return "written"
        except Fenced:
            return "fenced"

    assert write_during_takeover(db, cam, TTL, writer_a) == "fenced"
    with db.session() as s:
        assert s.get(CameraLease, cam).node == "b"


def test_reindex_adopts_into_the_nodes_own_rows(db, tmp_path):
    """``ronda storage reindex`` on a cluster node catalogs a found file as that node's (its folder)."""
    from pathlib import Path

    from ronda.recording.segments import StreamKey, adopt, final_relpath
    from ronda.store.models import Segment

    (cam,) = _cameras(db, 1)
    key = StreamKey(cam, "main")
    rel = final_relpath(key, 1_000_000)
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_bytes(b"not probed here")
    seg = adopt(db, tmp_path, key, Path(rel), 1_000_000, 2000, None, node="n7")
    assert seg is not None
    with db.session() as s:
        assert s.get(Segment, seg.id).node == "n7"


def test_renewals_do_not_wait_for_a_busy_default_executor(db):
    """The keeper's database work runs in a thread of its own: with every thread of the event loop's default
    executor busy (the recorder's segment placement, gaps and audit share it), the keeper still registers,
    claims, renews and releases. Through ``asyncio.to_thread`` it would wait for them (here: time out)."""
    ids = _cameras(db, 2)
    keeper = LeaseKeeper(db, ClusterConfig(node="a"))

    async def run() -> None:
        async with busy_default_executor():
            await asyncio.wait_for(keeper.start(background=False), 10)
            assert set(keeper.held()) == set(ids)
            res = await asyncio.wait_for(keeper.tick(), 10)
            assert res.lost == set() and set(keeper.held()) == set(ids)
            await asyncio.wait_for(keeper.stop(), 10)
        with db.session() as s:  # released at the stop, in the keeper's thread too
            assert {c: h[0] for c, h in cluster_repo.holders(s).items()} == dict.fromkeys(ids)

    asyncio.run(run())
