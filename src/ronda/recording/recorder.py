"""The recording role: one StreamRecorder per recorded stream, plus heartbeat and storage watch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from ronda.access.audit import AuditLog
from ronda.access.secrets import SecretBox
from ronda.config import Config
from ronda.devices.urls import url_with_credentials
from ronda.recording import recovery
from ronda.recording.archive import Archiver
from ronda.recording.backlog import CatalogBacklog
from ronda.recording.clockwatch import ClockWatch, monotonic_ms
from ronda.recording.layout import PARTIAL_DIR, PARTIAL_SUFFIX, Layout
from ronda.recording.notify import DirWatch
from ronda.recording.onvif_follow import OnvifFollower
from ronda.recording.retention import Retention, local_bytes
from ronda.recording.segments import StreamKey, Writer
from ronda.recording.supervisor import RONDA_REASONS, StreamRecorder, StreamSpec, StreamStatus
from ronda.recording.volume import VolumeError, disk_usage, ensure_default_volume, volume_present
from ronda.store import cluster_repo, repos, rights_version
from ronda.store.db import Database, unreachable
from ronda.store.models import Camera, CameraStream, Gap
from ronda.timeutil import now_ms

log = logging.getLogger(__name__)
STATE_KEY = "recorder"
HEARTBEAT_S = 5.0
# How often the wall clock is compared with the monotonic clock (a step: event system.clock_jump).
CLOCK_SAMPLE_S = 1.0
# How often the recorder compares the camera catalog with what it records. Cameras are edited on
# any node (an API-only one, the CLI), so the database is the only place every change shows up.
CATALOG_POLL_S = 2.0
# How often footage is deleted for its age (the disk and byte budgets are checked every storage check):
# nothing is urgent about it, and each pass writes one event and one audit record per stream it
# trims, so a pass every 5 s at 100 cameras (main + sub) meant one of each per segment, ~33 a second.
AGE_PASS_MS = 60_000
# What of a camera row the capture depends on; name, retention and status changes are not in it. The
# last item is the epoch of this node's lease of the camera (cluster mode; None on a single box).
Fingerprint = tuple[bool, str | None, str | None, bool, str, frozenset[tuple[str, str, bool]], int | None]
# Why a camera stops here when this node no longer holds its lease (another node took it over).
LEASE_LOST = "failover"
# Why a camera stops here when this node gives its lease up for the balance (a node joined).
REBALANCED = "rebalanced"


class Leases(Protocol):
    """Which cameras this node records, in cluster mode (``ronda.cluster.leases.LeaseKeeper``, installed
    by runtime: this layer cannot import it)."""

    node: str

    def held(self) -> Mapping[int, tuple[int, str | None]]:
        """camera → (lease epoch, reason of the gap before its first segment here, e.g. ``failover``)."""
        ...

    def giving_up(self) -> Collection[int]:
        """Cameras whose leases this node frees for the balance once the recorder stopped them."""
        ...

    async def start(self, on_change: Callable[[], Awaitable[object]] | None = None) -> None: ...

    async def stop(self) -> None: ...


class Recorder:
    def __init__(
        self, cfg: Config, db: Database, secrets: SecretBox, audit: AuditLog | None = None, leases: Leases | None = None
    ) -> None:
        self.cfg = cfg
        # Cluster mode: only the cameras this node holds a lease for; a single box records them all.
        self.leases = leases
        self.node = leases.node if leases is not None else "local"
        self._state_key = STATE_KEY if leases is None else f"{STATE_KEY}:{self.node}"
        # camera → the lease epoch its capture last started under (its takeover gap is opened once)
        self._lease_started: dict[int, int] = {}
        self._sync_lock = asyncio.Lock()
        self._running = False
        self.db = db
        self.secrets = secrets
        self.root: Path = cfg.recordings_dir
        self.streams: dict[tuple[int, str], StreamRecorder] = {}
        # Catalog writes of every stream that wait for the database (recording/backlog.py).
        self.backlog = CatalogBacklog(db)
        self.retention = Retention(db, self.root, cfg.storage, audit=audit, node=self.node)
        self.storage: dict[str, Any] = {"state": "ok"}
        self._tasks: list[asyncio.Task[None]] = []
        self._initial_reason: str | None = None
        self._pause_reason: str | None = None
        self._last_locked_alarm = 0
        self._space_level = "ok"  # ok | low | full: storage.low / storage.full events on change
        self._age_pass_at: int | None = None  # monotonic ms of the last retention-by-age pass
        self.on_events: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._status_cache: dict[int, tuple[str, str | None]] = {}
        self._seen: dict[int, Fingerprint] = {}
        # (catalog counter, camera rows, streams per camera) of the last read (``_catalog``)
        self._catalog_rows: tuple[int, Sequence[Any], dict[int, set[tuple[str, str, bool]]]] | None = None
        self._fragment_subs: dict[tuple[int, str], set[Callable[[], None]]] = {}
        self._fragment_watches: dict[tuple[int, str], DirWatch] = {}
        # One lock per camera: a reload of one camera (its stop waits for ffmpeg and the last segment's
        # row) never holds up another's, so a node giving cameras up stops them all at once.
        self._reload_locks: dict[int, asyncio.Lock] = {}
        # cameras added by ONVIF: their own events, their stream URIs after a reboot (onvif_follow.py)
        self.onvif = OnvifFollower(db, secrets, owned=lambda cid: cid in self._seen, on_moved=self._streams_moved)
        # Cameras whose device gave new stream URIs: the next reload of their capture is a camera restart.
        self._moved: set[int] = set()
        # Moves old footage to the object store (runtime installs it when ``archive`` is configured).
        self.archiver: Archiver | None = None
        # Steps of the wall clock (an event each) and the steady clock retention counts age by.
        self.clock = ClockWatch()

    # --- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            ensure_default_volume(self.root)
        except VolumeError as e:
            self._pause_reason = "volume_missing"
            self.storage = {"state": "volume_missing", "detail": str(e)}
            log.error("%s", e)
        await asyncio.to_thread(self._startup_gaps)
        if self.leases is not None:
            await asyncio.to_thread(self._quarantine_partials)
            await self.leases.start(self._leases_changed)
        # Taken before the cameras start, so a change made meanwhile is seen by the first poll.
        self._seen = await asyncio.to_thread(self._catalog)
        # Every camera's streams read in one worker-thread hop: one hop per camera queued behind the
        # work of the streams already started (their first probes and catalog writes), which made a
        # start of 100 cameras take 80 s before the server answered its first request.
        ids = sorted(self._seen)
        specs = await asyncio.to_thread(lambda: {cid: self._specs(cid) for cid in ids})
        for cam_id in ids:
            await self.reload_camera(cam_id, self._initial_reason, specs[cam_id])
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="rec-heartbeat"))
        self._tasks.append(asyncio.create_task(self._follow_catalog(), name="rec-catalog"))
        self._tasks.append(asyncio.create_task(self._storage_watch(), name="rec-storage"))
        self._tasks.append(asyncio.create_task(self._clock_watch(), name="rec-clock"))
        if self.archiver is not None:
            loop = self._loop

            def archive_events() -> None:  # (called in the archiver's worker thread)
                loop.call_soon_threadsafe(self.events_written)

            self.archiver.on_events = archive_events
            self._tasks.append(asyncio.create_task(self.archiver.run(), name="rec-archive"))
        await self.onvif.start()
        self._running = True

    async def _leases_changed(self) -> None:
        """The lease keeper took or lost cameras, or is about to give some up: reconcile at once."""
        if self._running:
            await self.sync_catalog()

    async def stop(self) -> None:
        self._running = False
        await self.onvif.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await asyncio.gather(*(r.stop("ronda_stopped") for r in self.streams.values()))
        self.streams.clear()
        await self.backlog.flush(10.0)  # the last segments' rows, if the database is back in time
        await self.backlog.close()
        for watch in self._fragment_watches.values():
            watch.close()
        self._fragment_watches.clear()
        self._fragment_subs.clear()
        if self.leases is not None:  # after the last segments are catalogued: the others take them at once
            await self.leases.stop()

        def mark_clean() -> None:
            with self.db.session() as s:
                repos.put_state(s, self._state_key, {"running": False, "stopped_ms": now_ms(), "pid": os.getpid()})

        try:
            await asyncio.to_thread(mark_clean)
        except Exception as e:  # the database is away: the next start counts this stop as a crash
            if not unreachable(e):
                raise

    def _startup_gaps(self) -> None:
        now = now_ms()
        with self.db.session() as s:
            state = repos.get_state(s, self._state_key)
            if state and state.get("running"):
                # Ronda died without stopping its recorders (kill -9, power cut).
                self._initial_reason = "recorder_restart"
                alive = int(state.get("heartbeat_ms") or now)
                down: dict[str, Any] = {"last_heartbeat_ms": alive, "down_s": round((now - alive) / 1000, 1)}
                if self.leases is not None:
                    down["node"] = self.node
                repos.add_event(s, "system.recorder_restart", now, None, severity="warning", payload=down)
                # In cluster mode the cameras may record elsewhere by now: their gaps are not this node's
                # to close (a camera taken back opens its own gap, from its lease).
                for gap in s.scalars(select(Gap).where(Gap.end_ms.is_(None))) if self.leases is None else ():
                    if gap.reason not in RONDA_REASONS:
                        gap.end_ms = max(gap.start_ms, min(alive, now))
            elif state:
                self._initial_reason = "ronda_stopped"
            repos.put_state(s, self._state_key, {"running": True, "heartbeat_ms": now, "pid": os.getpid()})

    def _quarantine_partials(self) -> None:
        """Cluster mode, at start: what an earlier run of this node left half-written (it was killed) covers
        time that the node which took each camera over has explained with a ``failover`` gap, or recorded:
        kept in quarantine (named ``<camera>-<stream>-<file>``), never catalogued."""
        base = self.root / PARTIAL_DIR
        if not base.is_dir():
            return
        quarantine = Layout(self.root).quarantine_dir
        for d in base.iterdir():
            for p in d.glob(f"*{PARTIAL_SUFFIX}") if d.is_dir() else ():
                named = p.with_name(f"{d.name}-{p.name}")
                os.rename(p, named)
                dest = recovery.quarantine(named, quarantine)
                log.warning("partial segment %s of this node's earlier run moved to quarantine", dest.name)

    # --- cameras ----------------------------------------------------------------------------------
    def _catalog(self) -> dict[int, Fingerprint]:
        """What each live camera's capture depends on, in two narrow queries (no ORM objects). In cluster
        mode only the cameras this node holds a lease for, with the lease's epoch."""
        held = self.leases.held() if self.leases is not None else None
        with self.db.session() as s:
            # Read again only when the catalog counter moved (store/rights_version.py): this runs every
            # CATALOG_POLL_S and the rows change a few times a day.
            version = rights_version.catalog(s)
            cams: Sequence[Any]
            streams: dict[int, set[tuple[str, str, bool]]]
            if version >= 0 and self._catalog_rows is not None and self._catalog_rows[0] == version:
                _, cams, streams = self._catalog_rows
            else:
                cams = s.execute(
                    select(
                        Camera.id, Camera.enabled, Camera.username, Camera.password_enc, Camera.audio, Camera.transport
                    ).where(Camera.deleted_ms.is_(None))
                ).all()
                streams = {}
                for cid, kind, url, record in s.execute(
                    select(CameraStream.camera_id, CameraStream.kind, CameraStream.url, CameraStream.record)
                ):
                    streams.setdefault(cid, set()).add((kind, url, bool(record)))
                self._catalog_rows = (version, cams, streams)
        return {
            cid: (bool(enabled), user, pw, bool(audio), str(transport), frozenset(streams.get(cid, ())),
                  held[cid][0] if held is not None else None)
            for cid, enabled, user, pw, audio, transport in cams
            if held is None or cid in held
        }  # fmt: skip

    async def _follow_catalog(self) -> None:
        """Reconcile the captures with the catalog whenever a camera's capture fingerprint changes."""
        while True:
            await asyncio.sleep(CATALOG_POLL_S)
            try:
                await self.sync_catalog()
            except Exception as e:  # a busy database must not end the loop; the next poll retries
                if not unreachable(e):  # (an outage is logged once, by the database)
                    log.warning("camera catalog check failed: %s", e)

    async def sync_catalog(self) -> list[int]:
        """One reconciliation pass; returns the cameras whose capture was reloaded."""
        async with self._sync_lock:  # the poll and the lease keeper's call must not interleave
            return await self._sync_catalog()

    async def _sync_catalog(self) -> list[int]:
        now = await asyncio.to_thread(self._catalog)
        changed = sorted(cid for cid in now.keys() | self._seen.keys() if now.get(cid) != self._seen.get(cid))
        # All at once: cameras given up for the balance are stopped together (the node taking them waits
        # for the last of them), and cameras taken start together.
        done = await asyncio.gather(*(self.reload_camera(cid) for cid in changed), return_exceptions=True)
        reloaded = []
        for cid, result in zip(changed, done, strict=True):
            if isinstance(result, BaseException):  # it stays unseen: the next poll retries
                if not isinstance(result, Exception):  # cancelled: not this camera's failure
                    raise result
                if not unreachable(result):  # (an outage is logged once, by the database)
                    log.warning("camera %d: capture reload failed: %s", cid, result)
                continue
            reloaded.append(cid)
            if cid in now:
                self._seen[cid] = now[cid]
            else:
                self._seen.pop(cid, None)
        if changed:  # an ONVIF camera added, disabled or deleted: its follow-up starts or stops now
            await self.onvif.rescan()
        return reloaded

    def _streams_moved(self, camera_id: int) -> None:
        """The device gave new stream URIs (stored already; the next catalog poll restarts the capture):
        the time since the camera failed is one ``camera_restarted`` gap, not an outage then a reconfiguration.
        """
        self._moved.add(camera_id)

    async def reload_camera(
        self, camera_id: int, initial_reason: str | None = None, read: tuple[list[StreamSpec], str | None] | None = None
    ) -> None:
        """(Re)start the capture of a camera after it was added, changed, disabled or deleted.

        ``initial_reason`` explains the time since the stream's last segment (only at start-up).
        Called by the API of this process at once, and by the catalog poll for changes made elsewhere;
        the lock keeps the two from starting a stream twice. ``read``: the camera's streams, read already."""
        async with self._reload_locks.setdefault(camera_id, asyncio.Lock()):
            await self._reload(camera_id, initial_reason, read)

    async def _reload(
        self, camera_id: int, initial_reason: str | None, read: tuple[list[StreamSpec], str | None] | None = None
    ) -> None:
        specs, stop_reason = read if read is not None else await asyncio.to_thread(self._specs, camera_id)
        wanted = {(camera_id, sp.stream): sp for sp in specs}
        writer = self._writer(camera_id)
        for k in [k for k in self.streams if k[0] == camera_id]:
            new = wanted.get(k)
            cur = self.streams[k].spec
            same_lease = writer is not None and self.streams[k].writer.epoch == writer.epoch
            if (new is not None and same_lease
                    and (new.url, new.audio, new.transport) == (cur.url, cur.audio, cur.transport)):  # fmt: skip
                # Name, retention and the like do not touch the capture: no restart, no gap.
                del wanted[k]
                continue
            rec = self.streams.pop(k)
            if stop_reason is None and camera_id in self._moved:
                await rec.stop("camera_restarted", "the device gave new stream URIs")
            else:
                await rec.stop(stop_reason or "camera_reconfigured")
        self._moved.discard(camera_id)
        specs = list(wanted.values())
        if specs and writer is not None and writer.epoch is not None:
            # The first capture under a new lease explains the time since the camera's last segment
            # (``failover`` after a takeover); later reloads under the same lease do not.
            if self._lease_started.get(camera_id) != writer.epoch:
                self._lease_started[camera_id] = writer.epoch
                initial_reason = self._lease_reason(camera_id)
            else:
                initial_reason = None
        for spec in specs:
            assert writer is not None
            rec = StreamRecorder(
                spec, self.db, self.root, self.cfg.recording, self._on_status, initial_reason=initial_reason,
                writer=writer, backlog=self.backlog,
            )  # fmt: skip
            self.streams[(camera_id, spec.stream)] = rec
            if self._pause_reason:
                rec.pause(self._pause_reason)
            rec.start()
        if not any(k[0] == camera_id for k in self.streams):
            self._status_cache.pop(camera_id, None)

    def _writer(self, camera_id: int) -> Writer | None:
        """Who writes this camera's catalog rows: this node under its lease's epoch (None: not held)."""
        if self.leases is None:
            return Writer(self.node, None)
        held = self.leases.held().get(camera_id)
        return Writer(self.node, held[0]) if held is not None else None

    def _lease_reason(self, camera_id: int) -> str | None:
        held = self.leases.held().get(camera_id) if self.leases is not None else None
        return held[1] if held is not None else None

    def _specs(self, camera_id: int) -> tuple[list[StreamSpec], str | None]:
        with self.db.session() as s:
            cam = s.get(Camera, camera_id)
            if cam is None or cam.deleted_ms is not None:
                return [], "camera_deleted"
            if not cam.enabled:
                return [], "camera_disabled"
            if self._writer(camera_id) is None:
                # Lost (another node holds it now: this stop's writes are fenced off) or given up.
                assert self.leases is not None
                return [], REBALANCED if camera_id in self.leases.giving_up() else LEASE_LOST
            password = self.secrets.decrypt(cam.password_enc)
            return [
                StreamSpec(
                    camera_id=cam.id,
                    stream=st.kind,
                    url=url_with_credentials(st.url, cam.username, password),
                    codec=st.codec,
                    audio=cam.audio and st.kind == "main",
                    stream_row_id=st.id,
                    transport=cam.transport,
                    tcp_refused_ms=st.tcp_refused_ms,
                )
                for st in cam.streams
                if st.record
            ], None

    def _on_status(self, key: StreamKey, st: StreamStatus) -> None:
        # The camera's status follows its main stream (or its only recorded stream).
        mains = [r for k, r in self.streams.items() if k[0] == key.camera_id]
        main = next((r for r in mains if r.spec.stream == "main"), mains[0] if mains else None)
        if main is None:
            return
        state = {"recording": "recording", "offline": "offline", "paused": "paused"}.get(main.status.state)
        if state is None:
            return
        value = (state, main.status.reason)
        if state == "offline":  # (each failed attempt: the follower decides whether to ask the device)
            self.onvif.camera_offline(key.camera_id)
        elif state == "recording":
            self.onvif.camera_online(key.camera_id)
        if self._status_cache.get(key.camera_id) == value:
            return
        self._status_cache[key.camera_id] = value
        writer = main.writer

        def write() -> None:
            with self.db.session() as s:
                if writer.epoch is None:  # a single box: nothing to check
                    repos.set_camera_status(s, key.camera_id, *value)
                elif not cluster_repo.set_camera_status_fenced(s, key.camera_id, *value, writer.node, writer.epoch):
                    # Fenced like the catalog rows (docs/cluster.md): this node lost the camera's lease
                    # (frozen or cut off past the TTL); the status and event are the new holder's to write.
                    log.info("camera %d: status %s not written: node %s no longer holds its lease (epoch %d)",
                             key.camera_id, state, writer.node, writer.epoch)  # fmt: skip
                    return
                repos.add_event(
                    s,
                    "camera.online" if state == "recording" else f"camera.{state}",
                    now_ms(),
                    key.camera_id,
                    severity="info" if state == "recording" else "warning",
                    payload={"reason": value[1]} if value[1] else None,
                )

        fut = asyncio.get_running_loop().run_in_executor(None, write)
        fut.add_done_callback(_log_failure)
        fut.add_done_callback(lambda _f: self.events_written())

    # --- live view --------------------------------------------------------------------------------
    def watch_fragments(self, camera_id: int, stream: str, wake: Callable[[], None]) -> Callable[[], None] | None:
        """Call ``wake()`` (on the event loop) whenever the stream's ffmpeg writes to its segment file.

        Live view subscribes while somebody watches; returns the unsubscribe function, or None when
        the kernel cannot notify (then the caller polls)."""
        key = (camera_id, stream)
        subs = self._fragment_subs.setdefault(key, set())
        if key not in self._fragment_watches:
            watch = DirWatch(Layout(self.root).partial_dir(camera_id, stream), lambda: self._fragment_landed(key))
            if not watch.start():
                return None
            self._fragment_watches[key] = watch
        subs.add(wake)

        def unsubscribe() -> None:
            subs.discard(wake)
            if not subs:
                self._fragment_subs.pop(key, None)
                w = self._fragment_watches.pop(key, None)
                if w is not None:
                    w.close()

        return unsubscribe

    def _fragment_landed(self, key: tuple[int, str]) -> None:
        for wake in list(self._fragment_subs.get(key, ())):
            wake()

    def camera_status(self, camera_id: int) -> dict[str, Any]:
        return self.statuses().get(camera_id, {})

    @property
    def catalog_state(self) -> dict[str, Any]:
        """The catalog's state for health: ``ok``, or ``behind`` while writes wait for the database."""
        if not self.backlog.waiting:
            return {"state": "ok", "replayed": self.backlog.replayed}
        return {"state": "behind", "backlog": len(self.backlog), "since_ms": self.backlog.oldest_ms,
                "replayed": self.backlog.replayed}  # fmt: skip

    def statuses(self) -> dict[int, dict[str, Any]]:
        """camera id → ``{stream: {"state", "reason", "segments", "transport"}}`` of every stream recorded
        here (one pass: the camera list asks for all of them)."""
        out: dict[int, dict[str, Any]] = {}
        for (cid, stream), rec in list(self.streams.items()):
            st = rec.status
            out.setdefault(cid, {})[stream] = {"state": st.state, "reason": st.reason, "segments": st.segments,
                                               "transport": st.transport}  # fmt: skip
        return out

    # --- background -------------------------------------------------------------------------------
    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)

            def beat() -> None:
                with self.db.session() as s:
                    repos.put_state(s, self._state_key, {"running": True, "heartbeat_ms": now_ms(), "pid": os.getpid()})

            try:
                await asyncio.to_thread(beat)
            except Exception as e:  # a busy database must not stop the heartbeat loop
                if not unreachable(e):  # (an outage is logged once, by the database)
                    log.warning("heartbeat write failed: %s", e)
                continue
            self.db.outage.up()  # a write went through: an outage is over
            ended = self.db.outage.take_ended()
            if ended is not None:
                self._database_back(*ended)

    def _database_back(self, since_ms: int, until_ms: int) -> None:
        """(On the event loop.) The database answers writes again after an outage: one event says how long
        it was away and how many catalog writes waited."""
        facts = {"since_ms": since_ms, "until_ms": until_ms, "seconds": round((until_ms - since_ms) / 1000, 1),
                 "catalog_backlog": len(self.backlog)}  # fmt: skip

        def write() -> None:
            with self.db.session() as s:
                repos.add_event(s, "system.database_outage", until_ms, None, severity="warning", payload=facts)

        fut = asyncio.get_running_loop().run_in_executor(None, write)
        fut.add_done_callback(_log_failure)
        fut.add_done_callback(lambda _f: self.events_written())

    async def _clock_watch(self) -> None:
        while True:
            await asyncio.sleep(CLOCK_SAMPLE_S)
            step = self.clock.sample()
            if step is None:
                continue
            # Recording itself needs nothing: durations come from the camera's timestamps and the session
            # clock never places a segment before the previous one (timeline.py); retention counts age
            # by the steady clock. Operators need to know: an alarm rule may match this event.
            log.warning("the wall clock stepped %+.1f s", step.step_ms / 1000)
            facts: dict[str, Any] = {"step_ms": step.step_ms, "expected_ms": step.expected_ms, "wall_ms": step.wall_ms}
            if self.leases is not None:
                facts["node"] = self.node
            try:
                await asyncio.to_thread(self._event, "system.clock_jump", "warning", facts)
            except Exception as e:  # a busy database must not end the watch
                log.warning("clock jump event not stored: %s", e)

    def _set_pause(self, reason: str | None) -> None:
        if reason == self._pause_reason:
            return
        self._pause_reason = reason
        for rec in self.streams.values():
            if reason:
                rec.pause(reason)
            else:
                rec.resume()

    async def _storage_watch(self) -> None:
        while True:
            try:
                await self.check_storage()
            except Exception as e:
                if not unreachable(e):  # (an outage is logged once, by the database)
                    log.exception("storage check failed")
            await asyncio.sleep(self.cfg.storage.check_interval_seconds)

    async def check_storage(self) -> dict[str, Any]:
        """One pass: volume present, retention, watermarks. Returns the storage status."""
        if not volume_present(self.root):
            if self.storage.get("state") != "volume_missing":
                await asyncio.to_thread(self._event, "storage.volume_missing", "critical", {"path": str(self.root)})
            self.storage = {"state": "volume_missing", "detail": f"{self.root} is not mounted or has no marker"}
            self._set_pause("volume_missing")
            return self.storage
        # Retention keeps twice the stop mark free, so a paused recorder can resume.
        resume_free = 2 * self.cfg.storage.stop_below_free_bytes
        mono = monotonic_ms()
        by_age = self._age_pass_at is None or mono - self._age_pass_at >= AGE_PASS_MS
        if by_age:
            self._age_pass_at = mono
        rep = await asyncio.to_thread(self.retention.run, now_ms(), resume_free, self.clock.steady_ms, by_age)
        du = disk_usage(self.root)
        with self.db.session() as s:
            used = local_bytes(s, self.node)  # this node's disk (archived footage and other nodes' are not on it)
        state = "ok"
        if du.free < self.cfg.storage.stop_below_free_bytes:
            self._set_pause("disk_full")
        elif self._pause_reason in ("disk_full", "volume_missing") and du.free >= resume_free:
            self._set_pause(None)
        if self._pause_reason == "disk_full":
            state = "disk_full"
        # Tell people before recording pauses: "low" below twice the resume mark, once per episode.
        level = "full" if state == "disk_full" else "low" if du.free < 2 * resume_free else "ok"
        if level != self._space_level:
            if level != "ok":
                facts = {"free_bytes": du.free, "total_bytes": du.total, "path": str(self.root)}
                severity = "critical" if level == "full" else "warning"
                await asyncio.to_thread(self._event, f"storage.{level}", severity, facts)
            self._space_level = level
        if rep.locked_blocking:
            state = "locked_full" if state == "ok" else state
            if now_ms() - self._last_locked_alarm > 600_000:
                self._last_locked_alarm = now_ms()
                await asyncio.to_thread(
                    self._event,
                    "storage.locked_full",
                    "critical",
                    {"used_bytes": used, "max_bytes": self.cfg.storage.max_bytes, "free_bytes": du.free},
                )
        self.storage = {
            "state": state,
            "used_bytes": used,
            "max_bytes": self.cfg.storage.max_bytes,
            "free_bytes": du.free,
            "total_bytes": du.total,
            "free_percent": round(du.free_percent, 2),
            "deleted_last_pass": rep.deleted,
        }
        if self.archiver is not None:
            a = self.archiver.status
            self.storage["archive"] = {"state": a.state, "detail": a.detail, "backlog": a.backlog,
                                       "archived": a.archived}  # fmt: skip
        return self.storage

    def _event(self, type: str, severity: str, payload: dict[str, Any]) -> None:
        with self.db.session() as s:
            repos.add_event(s, type, now_ms(), None, severity=severity, payload=payload)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.events_written)

    def events_written(self) -> None:
        """Called (on the event loop) after the recorder stored events: ``on_events`` wakes their
        publisher so alarms do not wait for its next poll."""
        if self.on_events is not None:
            self.on_events()


def _log_failure(fut: asyncio.Future[None]) -> None:
    e = fut.exception() if not fut.cancelled() else None
    if e is not None and not unreachable(e):  # (an outage is logged once, by the database)
        log.error("recorder state write failed: %s", e)
