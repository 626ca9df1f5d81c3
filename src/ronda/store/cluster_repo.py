"""SQL of the cluster tables (docs/cluster.md "Leases and failover"): node registration, camera leases.

Every node of a site registers in ``nodes`` (recorders, API, events and analytics nodes alike) and
heartbeats there; ``capacity`` means something for recorder nodes only (0 for the others).

Every function takes the caller's session (one transaction). On PostgreSQL a claim locks the rows it
takes with ``FOR UPDATE SKIP LOCKED``, so recorders claiming at the same moment take different cameras
without waiting for each other; SQLite has no row locks (one writer at a time), and the same statements
are correct there because its writers are serialised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, and_, bindparam, exists, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ronda.store.cluster_models import CameraLease, Node
from ronda.store.models import Camera
from ronda.timeutil import to_iso

UP, DOWN, STOPPED = "up", "down", "stopped"

LEASES = cast(Table, CameraLease.__table__)  # Core statements: executemany, ON CONFLICT


@dataclass(slots=True, frozen=True)
class LiveNode:
    name: str
    capacity: int
    roles: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class Taken:
    """A lease this node just took: its new fencing ``epoch`` and who held it before."""

    camera_id: int
    epoch: int
    previous_node: str | None  # None: it was free (released, or never taken)
    previous_expires_ms: int


def register_node(s: Session, name: str, roles: Sequence[str], url: str | None, capacity: int, now: int,
                  version: str | None = None, ttl_ms: int | None = None) -> int:  # fmt: skip
    """Upsert this node's row at process start; returns its new epoch (one more than the last start's).
    ``ttl_ms``: its heartbeat TTL (it beats every third of it), by which the others judge it."""
    row = s.scalars(select(Node).where(Node.name == name).with_for_update()).first()
    if row is None:
        s.add(Node(name=name, roles=list(roles), url=url, capacity=capacity, epoch=1, started_ms=now, last_seen_ms=now,
                   version=version, stopped_ms=None, ttl_ms=ttl_ms))  # fmt: skip
        s.flush()
        return 1
    row.roles, row.url, row.capacity, row.version, row.ttl_ms = list(roles), url, capacity, version, ttl_ms
    row.epoch += 1
    row.started_ms = row.last_seen_ms = now
    row.stopped_ms = None
    return row.epoch


def mark_stopped(s: Session, name: str, epoch: int, now: int) -> bool:
    """A clean stop: the node is ``stopped``, not ``down``. Only the run that registered under ``epoch``
    may say so (an old run thawed after its node restarted does not mark the new run stopped)."""
    res = s.execute(update(Node).where(Node.name == name, Node.epoch == epoch).values(stopped_ms=now, last_seen_ms=now))
    return bool(res.rowcount)  # type: ignore[attr-defined]


def heartbeat(s: Session, name: str, now: int) -> None:
    s.execute(update(Node).where(Node.name == name).values(last_seen_ms=now))


def live_nodes(s: Session, now: int, ttl_ms: int) -> list[LiveNode]:
    """Nodes seen within their own heartbeat TTL (``ttl_ms``, the caller's, for a row that names none) and
    not stopped (recorders and others: the caller filters by role). A node that stopped cleanly counts no
    more at once: the others' fair share grows at their next tick."""
    seen = Node.last_seen_ms > now - func.coalesce(Node.ttl_ms, ttl_ms)
    rows = s.execute(select(Node.name, Node.capacity, Node.roles).where(seen, Node.stopped_ms.is_(None))).all()
    return [LiveNode(n, int(c), tuple(r or ())) for n, c, r in rows]


def cameras(s: Session) -> dict[int, list[str] | None]:
    """Every camera that needs a recorder (not deleted) → its node affinity (None: any node)."""
    rows = s.execute(select(Camera.id, Camera.node_affinity).where(Camera.deleted_ms.is_(None))).all()
    return {int(cid): (list(aff) if aff else None) for cid, aff in rows}


def ensure_leases(s: Session, camera_ids: Iterable[int], now: int) -> int:
    """Give every camera a (free) lease row; returns how many were missing."""
    have = set(s.scalars(select(CameraLease.camera_id)))
    missing = sorted(set(camera_ids) - have)
    if missing:
        dialect = s.get_bind().dialect.name
        # Several nodes start at once: a row another node added meanwhile is no error.
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(LEASES)
        s.execute(
            ins.on_conflict_do_nothing(index_elements=["camera_id"]),
            [{"camera_id": c, "node": None, "epoch": 0, "expires_ms": 0, "acquired_ms": now} for c in missing],
        )
    return len(missing)


def renew(s: Session, node: str, held: Mapping[int, int], now: int, ttl_ms: int) -> set[int]:
    """Extend the leases this node still holds under the epochs it knows; returns those cameras. A camera
    missing from the answer was taken over (its epoch changed) or deleted: the node must stop it."""
    if not held:
        return set()
    pairs = [(c, e) for c, e in held.items()]
    s.execute(
        update(CameraLease)
        .where(CameraLease.node == node, tuple_(CameraLease.camera_id, CameraLease.epoch).in_(pairs))
        .values(expires_ms=now + ttl_ms)
        .execution_options(synchronize_session=False)
    )
    rows = s.execute(
        select(CameraLease.camera_id, CameraLease.epoch).where(CameraLease.node == node, CameraLease.expires_ms > now)
    ).all()
    return {int(c) for c, e in rows if held.get(int(c)) == int(e)}


def claim(
    s: Session, node: str, eligible: Sequence[int], want: int, held: Iterable[int], now: int, ttl_ms: int
) -> list[Taken]:
    """Take up to ``want`` leases among ``eligible`` cameras that are free, expired, or left by an earlier
    run of this node (a restart with the same name), each under a new epoch. Rows another node is claiming
    right now are skipped, not waited for (PostgreSQL ``SKIP LOCKED``)."""
    if want <= 0 or not eligible:
        return []
    held = set(held)
    # Left by an earlier run of this node (same name, killed and restarted): not held by this run.
    mine_before = CameraLease.node == node
    if held:
        mine_before = and_(mine_before, CameraLease.camera_id.not_in(held))
    rows = s.execute(
        select(CameraLease.camera_id, CameraLease.node, CameraLease.epoch, CameraLease.expires_ms)
        .where(
            CameraLease.camera_id.in_(list(eligible)),
            or_(CameraLease.node.is_(None), CameraLease.expires_ms <= now, mine_before),
        )
        .order_by(CameraLease.camera_id)
        .limit(want)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    taken = [Taken(int(c), int(e) + 1, n, int(x)) for c, n, e, x in rows]
    leases = LEASES.c  # a Core executemany (the ORM's bulk update wants primary keys only)
    s.execute(
        update(LEASES)
        .where(leases.camera_id == bindparam("cid"), leases.epoch == bindparam("old"))
        .values(node=node, epoch=bindparam("new"), expires_ms=now + ttl_ms, acquired_ms=now),
        [{"cid": t.camera_id, "old": t.epoch - 1, "new": t.epoch} for t in taken],
    )
    return taken


def release(s: Session, node: str, held: Mapping[int, int]) -> None:
    """Free leases (this node stopped their cameras first): the next holder takes them at once, no TTL."""
    if held:
        s.execute(
            update(CameraLease)
            .where(CameraLease.node == node, tuple_(CameraLease.camera_id, CameraLease.epoch).in_(list(held.items())))
            .values(node=None, expires_ms=0)
            .execution_options(synchronize_session=False)
        )


def holds(s: Session, camera_id: int, node: str, epoch: int) -> bool:
    """Fencing: does ``node`` still hold the camera's lease under ``epoch``? Locks the lease row until the
    caller's transaction ends, so no other node can take the lease between this check and the write it
    guards (the catalog write commits in the same transaction, or not at all)."""
    return (
        s.execute(
            select(CameraLease.camera_id)
            .where(CameraLease.camera_id == camera_id, CameraLease.node == node, CameraLease.epoch == epoch)
            .with_for_update()
        ).first()
        is not None
    )


def holders(s: Session) -> dict[int, tuple[str | None, int, int]]:
    """camera id → (holder node, epoch, expires_ms): for tests, status pages and benchmarks."""
    return {
        int(c): (n, int(e), int(x))
        for c, n, e, x in s.execute(
            select(CameraLease.camera_id, CameraLease.node, CameraLease.epoch, CameraLease.expires_ms)
        )
    }


@dataclass(slots=True, frozen=True)
class NodeInfo:
    """A node as ``ronda nodes``, ``GET /api/v1/nodes`` and ``/metrics`` show it."""

    name: str
    roles: tuple[str, ...]
    url: str | None
    version: str | None
    epoch: int
    capacity: int | None  # recorder nodes only
    started_ms: int
    last_seen_ms: int
    stopped_ms: int | None
    state: str  # up | down (no heartbeat for a TTL, no clean stop) | stopped (a clean stop)
    leases: int  # unexpired camera leases it holds

    def view(self) -> dict[str, object]:
        """As ``GET /api/v1/nodes`` and ``ronda nodes --json`` give it (times in ISO 8601 UTC)."""
        return {"name": self.name, "roles": list(self.roles), "state": self.state, "url": self.url,
                "version": self.version, "epoch": self.epoch, "capacity": self.capacity, "leases": self.leases,
                "started": to_iso(self.started_ms), "last_seen": to_iso(self.last_seen_ms),
                "stopped": to_iso(self.stopped_ms)}  # fmt: skip


def node_state(last_seen_ms: int, stopped_ms: int | None, now: int, ttl_ms: int) -> str:
    if stopped_ms is not None:
        return STOPPED
    return UP if last_seen_ms > now - ttl_ms else DOWN


def list_nodes(s: Session, now: int, ttl_ms: int) -> list[NodeInfo]:
    """Every node that ever registered, by name, with its state judged by its own heartbeat TTL (``ttl_ms``,
    the caller's, for a row that names none)."""
    held = dict(
        s.execute(
            select(CameraLease.node, func.count())
            .where(CameraLease.node.is_not(None), CameraLease.expires_ms > now)
            .group_by(CameraLease.node)
        ).all()
    )
    out = []
    for n in s.scalars(select(Node).order_by(Node.name)):
        roles = tuple(n.roles or ())
        out.append(NodeInfo(n.name, roles, n.url, n.version, int(n.epoch),
                            int(n.capacity) if "recorder" in roles else None, int(n.started_ms),
                            int(n.last_seen_ms), n.stopped_ms,
                            node_state(n.last_seen_ms, n.stopped_ms, now, n.ttl_ms or ttl_ms),
                            int(held.get(n.name, 0))))  # fmt: skip
    return out


def set_camera_status_fenced(s: Session, camera_id: int, status: str, reason: str | None, node: str,
                             epoch: int) -> bool:  # fmt: skip
    """The camera's status, written only if ``node`` still holds its lease under ``epoch`` (one conditional
    UPDATE); False when it does not (a node frozen past the TTL, thawed: the new holder's status stands).
    On PostgreSQL the lease row is locked for share in the same statement, so a takeover committing
    meanwhile is seen (the check is re-read on the newest row) and cannot commit between check and write."""
    lease = (
        select(CameraLease.camera_id)
        .where(CameraLease.camera_id == camera_id, CameraLease.node == node, CameraLease.epoch == epoch)
        .with_for_update(read=True)
    )
    res = s.execute(
        update(Camera)
        .where(Camera.id == camera_id, exists(lease))
        .values(status=status, status_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]
