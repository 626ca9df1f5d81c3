"""``GET /metrics``: this node's and its cameras' state as Prometheus gauges (docs/cluster.md, "Operations").

Every node answers for itself (Prometheus scrapes each node; its ``instance`` label tells them apart).
Node gauges: up, roles, epoch, leases held, event loop lag, bus lag (events the outbox has not published
yet), archive backlog (this node's local segments past the archive age). Cluster gauges: every node
registered in ``nodes`` with its state (up, down, stopped), roles and heartbeat age, so a dead node shows
on the nodes still answering. Camera gauges: recording state
(from this node's recorder: only the recording node knows it), seconds since the last segment ended
(segment lag, from the catalog) and the lease holder (from the lease table).

Everything comes from a handful of indexed queries, computed at most once per ``CACHE_S`` however often
it is scraped. Labels carry camera ids and names, never a URL or a credential.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from ronda.config import Config
from ronda.store import cluster_repo
from ronda.store.cluster_models import CameraLease, Node
from ronda.store.db import Database
from ronda.store.models import Camera, CameraStream, Event, Segment
from ronda.timeutil import now_ms

CACHE_S = 5.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATES = ("starting", "recording", "offline", "paused", "stopped")  # recording.supervisor.StreamStatus
NODE_STATES = (cluster_repo.UP, cluster_repo.DOWN, cluster_repo.STOPPED)
# Where the archive helper's configuration may keep its age threshold (``Config.archive``).
_ARCHIVE_AGE_FIELDS = ("after_hours", "age_hours", "older_than_hours", "min_age_hours")


@dataclass(slots=True)
class Sources:
    """What the collector reads besides the database: supplied by the API route from the running roles."""

    node: str
    roles: Iterable[str]
    stream_states: Callable[[], dict[tuple[int, str], str]] = dict  # this node's recorder: (camera, stream) → state
    published_id: Callable[[], int | None] = lambda: None  # the outbox relay's last published event id
    ttl_ms: int = 10_000  # cluster.lease_ttl_seconds: a node whose heartbeat is older is down
    extra: dict[str, Any] = field(default_factory=dict)


def archive_age_ms(cfg: Config) -> int | None:
    """The archive's age threshold, when this site has an archive (``Config.archive``, read defensively)."""
    archive = getattr(cfg, "archive", None)
    if archive is None or getattr(archive, "enabled", True) is False:
        return None
    for name in _ARCHIVE_AGE_FIELDS:
        hours = getattr(archive, name, None)
        if isinstance(hours, int | float):
            return int(hours * 3_600_000)
    return None


def camera_archive_ages_ms(cfg: Config) -> dict[int, int]:
    """Per-camera archive age thresholds (``archive.camera_after_hours``), when the archive has them."""
    found = getattr(getattr(cfg, "archive", None), "camera_after_hours", None)
    if not isinstance(found, dict):
        return {}
    return {int(k): int(float(v) * 3_600_000) for k, v in found.items()}


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def collect(cfg: Config, db: Database, src: Sources, loop_lag_s: float) -> list[Metric]:
    """The gauges, from the catalog now (blocking: run in a thread)."""
    me, now = src.node, now_ms()
    node_l = [me]
    up = _gauge("ronda_node_up", "1 while this node answers", ["node"])
    up.add_metric(node_l, 1)
    roles = _gauge("ronda_node_role", "1 for each role this node runs", ["node", "role"])
    for r in sorted(src.roles):
        roles.add_metric([me, r], 1)
    lag = _gauge("ronda_event_loop_lag_seconds", "delay of a callback scheduled on the event loop", ["node"])
    lag.add_metric(node_l, loop_lag_s)
    with db.session() as s:
        epoch_v = s.scalar(select(Node.epoch).where(Node.name == me))
        held = s.scalar(select(func.count()).select_from(CameraLease)
                        .where(CameraLease.node == me, CameraLease.expires_ms >= now)) or 0  # fmt: skip
        published = src.published_id()
        backlog_events = 0
        if published is not None:
            backlog_events = s.scalar(select(func.count()).select_from(Event).where(Event.id > published)) or 0
        age = archive_age_ms(cfg)
        backlog = 0
        if age is not None:
            mine = select(func.count()).select_from(Segment).where(Segment.location == "local",
                                                                    Segment.node.in_([me, "local"]))  # fmt: skip
            per_camera = camera_archive_ages_ms(cfg)
            backlog = s.scalar(mine.where(Segment.end_ms < now - age, Segment.camera_id.not_in(per_camera))) or 0
            for cid, cam_age in per_camera.items():
                backlog += s.scalar(mine.where(Segment.camera_id == cid, Segment.end_ms < now - cam_age)) or 0
        cams = {cid: name for cid, name in s.execute(select(Camera.id, Camera.name).where(Camera.deleted_ms.is_(None)))}
        # The newest segment of each recorded stream: one index lookup per stream (camera, stream, start).
        latest = (select(Segment.end_ms).where(Segment.camera_id == CameraStream.camera_id,
                                                Segment.stream == CameraStream.kind)
                  .order_by(Segment.start_ms.desc()).limit(1).scalar_subquery())  # fmt: skip
        lags = s.execute(select(CameraStream.camera_id, CameraStream.kind, latest).where(CameraStream.record)).all()
        leases = s.execute(select(CameraLease.camera_id, CameraLease.node)
                           .where(CameraLease.node.is_not(None), CameraLease.expires_ms >= now)).all()  # fmt: skip
        site_nodes = cluster_repo.list_nodes(s, now, src.ttl_ms)
    epoch = _gauge("ronda_node_epoch", "this node's epoch (bumped at each start; 0: not registered)", ["node"])
    epoch.add_metric(node_l, int(epoch_v or 0))
    leases_g = _gauge("ronda_node_leases", "camera leases this node holds", ["node"])
    leases_g.add_metric(node_l, int(held))
    bus = _gauge("ronda_bus_lag_events", "events in the outbox not yet published to the bus", ["node"])
    bus.add_metric(node_l, int(backlog_events))
    archive = _gauge("ronda_archive_backlog_segments", "local segments older than the archive age", ["node"])
    archive.add_metric(node_l, int(backlog))

    state = _gauge("ronda_camera_recording", "1 for the stream's state on the node recording it",
                   ["camera", "name", "stream", "state"])  # fmt: skip
    for (cid, stream), st in sorted(src.stream_states().items()):
        if cid not in cams:
            continue
        for candidate in STATES:
            state.add_metric([str(cid), cams[cid], stream, candidate], 1 if st == candidate else 0)
    seg_lag = _gauge("ronda_camera_segment_lag_seconds", "seconds since the stream's last segment ended",
                     ["camera", "name", "stream"])  # fmt: skip
    for cid, stream, end in lags:
        if cid in cams and end is not None:
            seg_lag.add_metric([str(cid), cams[cid], stream], max(0.0, (now - int(end)) / 1000))
    holder = _gauge("ronda_camera_lease", "1 for the node holding the camera's lease", ["camera", "name", "node"])
    for cid, node in leases:
        if cid in cams:
            holder.add_metric([str(cid), cams[cid], str(node)], 1)
    # The whole cluster as ``nodes`` says (every node reports it: use max by (node) in alerts).
    cluster = _gauge("ronda_cluster_node", "1 for the state of each registered node of the site (up, down, stopped)",
                     ["node", "state"])  # fmt: skip
    cluster_roles = _gauge("ronda_cluster_node_role", "1 for each role a registered node runs", ["node", "role"])
    seen = _gauge("ronda_cluster_node_heartbeat_age_seconds", "seconds since the node's last heartbeat", ["node"])
    for n in site_nodes:
        for candidate in NODE_STATES:
            cluster.add_metric([n.name, candidate], 1 if n.state == candidate else 0)
        for r in n.roles:
            cluster_roles.add_metric([n.name, r], 1)
        seen.add_metric([n.name], max(0.0, (now - n.last_seen_ms) / 1000))
    return [up, roles, epoch, leases_g, lag, bus, archive, state, seg_lag, holder, cluster, cluster_roles, seen]


async def loop_lag() -> float:
    """How long a callback scheduled now waits for the event loop (a loop blocked by a slow call shows)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    t0 = time.perf_counter()

    def ran() -> None:
        if not done.done():
            done.set_result(time.perf_counter() - t0)

    loop.call_soon(ran)
    return await done


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


class MetricsCache:
    """The rendered exposition, recomputed at most every ``ttl_s``."""

    def __init__(self, ttl_s: float = CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._at = -1e9
        self._body = b""
        self._lock = asyncio.Lock()

    async def render(self, cfg: Config, db: Database, src: Sources) -> bytes:
        async with self._lock:
            if time.monotonic() - self._at < self.ttl_s:
                return self._body
            lag = await loop_lag()
            metrics = await asyncio.to_thread(collect, cfg, db, src, lag)
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Fixed(metrics))
            self._body = generate_latest(registry)
            self._at = time.monotonic()
            return self._body
