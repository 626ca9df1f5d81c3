"""Events in the database: the batched writer, the outbox relay to the bus, search and retention.

Every event is first a row of the ``events`` table, written in the same transaction as whatever
caused it (a camera going offline, a segment deleted...). The :class:`OutboxRelay` then publishes
new rows to the bus in id order — the transactional outbox: nothing is published that was not
stored, nothing stored is lost if the process dies before publishing (the relay resumes from the
last id it published, and handlers are idempotent by id).

High-rate producers (sensor gateways, analytics) go through :class:`EventWriter`, which groups
concurrent submissions into one transaction every few milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from ronda.access.audit import InTransaction
from ronda.events.bus import Bus
from ronda.events.ingest import safe_payload
from ronda.events.messages import Event, Severity, Source
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import Event as EventRow
from ronda.tasks import cancel_and_wait

log = logging.getLogger(__name__)
SEVERITIES = ("info", "warning", "critical")
SOURCES = ("analytics", "camera", "system", "user", "external")


def event_view(e: Any) -> dict[str, Any]:
    """An event row as the API and the timeline show it (its :class:`Event`'s JSON)."""
    return event_from_row(e).to_json()


def event_from_row(e: Any) -> Event:
    """An event row as the bus carries it. Never raises, and never holds what the JSON encoder could
    choke on: one bad row (a payload nested too deep, NaN, a malformed column) is shown without its
    payload, marked ``redacted``, instead of failing the whole listing for everyone who sees its
    camera."""
    try:
        return _typed(e)
    except Exception as err:  # a row no ingest path writes; keep the listing alive and say so
        log.warning("event %s cannot be shown: %s", getattr(e, "id", None), err)
        return Event(id=getattr(e, "id", None), type=str(getattr(e, "type", "")), time_ms=None,  # type: ignore[arg-type]
                     redacted="event not shown: the stored row is malformed")  # fmt: skip


def _typed(e: Any) -> Event:
    cams = e.cameras or ([e.camera_id] if e.camera_id is not None else [])
    if not isinstance(cams, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in cams):
        raise ValueError("cameras is not a list of ids")
    payload, problem = safe_payload(e.payload)
    redacted = None
    if problem is not None:
        redacted = f"payload not shown: {problem}"
    elif set(payload) == {"redacted"}:  # removed by an administrator (redact_event)
        payload, redacted = {}, str(payload["redacted"])
    box = getattr(e, "box", None)
    if box is not None and not (isinstance(box, list) and len(box) == 4 and all(_finite(x) for x in box)):
        raise ValueError("box is not four finite numbers")
    return Event(id=e.id, type=e.type, time_ms=e.time_ms, camera=e.camera_id, cameras=tuple(cams),
                 severity=Severity(e.severity), source=Source(e.source), payload=payload, redacted=redacted,
                 text=getattr(e, "text", None), snapshot=getattr(e, "snapshot", None), uid=getattr(e, "uid", None),
                 box=tuple(box) if box is not None else None)  # fmt: skip


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(slots=True)
class NewEvent:
    type: str
    time_ms: int
    camera_id: int | None = None
    cameras: list[int] | None = None
    severity: str = "info"
    source: str = "system"
    payload: dict[str, Any] | None = None
    text: str | None = None
    uid: str | None = None
    snapshot: str | None = None
    box: list[float] | None = None

    def row(self) -> dict[str, Any]:
        return {"type": self.type, "time_ms": self.time_ms, "camera_id": self.camera_id, "cameras": self.cameras,
                "severity": self.severity, "source": self.source, "payload": self.payload, "text": self.text,
                "uid": self.uid, "snapshot": self.snapshot, "box": self.box}  # fmt: skip


@dataclass
class _Pending:
    events: list[NewEvent]
    done: asyncio.Future[list[int | None]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class EventWriter:
    """Stores events in batches: one transaction at a time, and what arrives meanwhile (up to
    ``max_batch`` events) goes into the next one.
    ``submit`` resolves to the ids, ``None`` for a uid already stored (idempotent ingest)."""

    def __init__(self, db: Database, max_batch: int = 1000) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.stored = 0
        self.duplicates = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-writer")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def submit(self, events: list[NewEvent]) -> list[int | None]:
        pending = _Pending(events)
        await self._queue.put(pending)
        return await pending.done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # No waiting when idle: what arrives while this transaction runs joins the next one.
            await asyncio.sleep(0)
            n = len(batch[0].events)
            while not self._queue.empty() and n < self.max_batch:
                p = self._queue.get_nowait()
                batch.append(p)
                n += len(p.events)
            try:
                ids = await asyncio.to_thread(self._write, [e for p in batch for e in p.events])
            except Exception as e:
                for p in batch:
                    if not p.done.done():
                        p.done.set_exception(e)
                continue
            i = 0
            for p in batch:
                if not p.done.done():
                    p.done.set_result(ids[i : i + len(p.events)])
                i += len(p.events)

    def _write(self, events: list[NewEvent]) -> list[int | None]:
        uids = [e.uid for e in events if e.uid]
        with self.db.session() as s:
            known: set[str] = set()
            if uids:
                known = set(s.scalars(select(EventRow.uid).where(EventRow.uid.in_(uids))))
            fresh: list[dict[str, Any]] = []
            out: list[int | None] = []
            seen: set[str] = set()
            for e in events:
                dup = e.uid is not None and (e.uid in known or e.uid in seen)
                if e.uid:
                    seen.add(e.uid)
                out.append(None if dup else len(fresh))
                if not dup:
                    fresh.append(e.row())
            try:
                ids = repos.add_events(s, fresh)
            except IntegrityError:  # a uid stored meanwhile by another writer: one by one
                s.rollback()
                return [self._write_one(e) for e in events]
        self.stored += len(fresh)
        self.duplicates += len(events) - len(fresh)
        return [None if k is None else ids[k] for k in out]

    def _write_one(self, e: NewEvent) -> int | None:
        try:
            with self.db.session() as s:
                return repos.add_events(s, [e.row()])[0]
        except IntegrityError:
            return None


class OutboxRelay:
    """Publishes new rows of the events table to the bus, in id order, at least once.

    ``send`` publishes one message and raises when the bus did not take it (the NATS bus's
    ``publish_confirmed``): the relay then keeps its position and tries the same message again, so
    an outage of the bus loses nothing (the events wait in the database). Without ``send`` it uses
    ``bus.publish``. ``resume`` says where to start (the NATS bus: the newest event in the stream);
    without it, or when it has nothing, the relay starts after the newest row.

    Ids are taken from a sequence when a transaction inserts, not when it commits: on PostgreSQL with
    several writers, id 10 may become visible after id 11. An id skipped over is looked for again
    on every pass for ``gap_wait_s`` (a transaction that rolled back leaves a gap for good)."""

    def __init__(self, db: Database, bus: Bus, interval_s: float = 1.0, batch: int = 2000,
                 send: Callable[[Event], Awaitable[None]] | None = None,
                 resume: Callable[[], Awaitable[int | None]] | None = None,
                 gap_wait_s: float = 30.0) -> None:  # fmt: skip
        self.db = db
        self.bus = bus
        self.interval_s = interval_s
        self.batch = batch
        self.send = send
        self.resume = resume
        self.gap_wait_s = gap_wait_s
        self.last_id = 0
        self.gaps: dict[int, float] = {}  # id skipped over -> when first missed (loop time)
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.retries = 0
        self.wake = asyncio.Event()
        self.positioned = asyncio.Event()  # set once the relay knows where it starts
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> bool:
        """The relay runs in this process (with NATS only events nodes relay)."""
        return self._task is not None and not self._task.done()

    def poke(self) -> None:
        """The one way to wake the relay (new events are committed), from any thread: this process's
        commits call it through ``Database.on_commit_adding``; other processes' events wait for the
        poll."""
        loop = self._loop
        if loop is None:
            return
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if here:
            self.wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
                loop.call_soon_threadsafe(self.wake.set)

    async def start(self, from_id: int | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        if from_id is None and self.resume is None:  # from the newest row, as of now
            from_id = await asyncio.to_thread(self._max_id)
        self._task = asyncio.create_task(self._run(from_id), name="event-outbox")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    def _max_id(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.coalesce(func.max(EventRow.id), 0))) or 0)

    def _fetch(self, after: int, gaps: list[int]) -> tuple[list[Event], list[Event]]:
        with self.db.session() as s:
            rows = s.scalars(select(EventRow).where(EventRow.id > after).order_by(EventRow.id).limit(self.batch))
            new = [event_from_row(r) for r in rows.all()]
            late: list[Event] = []
            if gaps:
                found = s.scalars(select(EventRow).where(EventRow.id.in_(gaps)).order_by(EventRow.id))
                late = [event_from_row(r) for r in found.all()]
            return new, late

    async def _publish(self, ev: Event) -> None:
        """Until the bus takes it (the relay's position stays before ``ev`` meanwhile)."""
        delay = 0.2
        while True:
            try:
                if self.send is not None:
                    await self.send(ev)
                else:
                    await self.bus.publish(ev)
                self.published += 1
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if not isinstance(e, ValueError):  # too large or unreadable: retrying cannot help
                    self.retries += 1
                    if delay == 0.2:
                        log.warning("event outbox: the bus did not take event %s (%s); retrying", ev.id, e)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                log.error("event outbox: event %s not published: %s", ev.id, e)
                return

    async def _start_position(self, from_id: int | None) -> int:
        if from_id is not None:
            return from_id
        if self.resume is not None:
            while True:
                try:
                    last = await self.resume()
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.warning("event outbox: cannot read where to resume (%s); retrying", e)
                    await asyncio.sleep(1)
            newest = await asyncio.to_thread(self._max_id)
            if last is not None and last <= newest:
                return last
            if last is not None:  # the database was restored or replaced under the same stream
                log.warning("event outbox: the bus has event %d, the database only up to %d: relaying from %d",
                            last, newest, newest)  # fmt: skip
            return newest
        return await asyncio.to_thread(self._max_id)

    async def _run(self, from_id: int | None) -> None:
        self.last_id = await self._start_position(from_id)
        self.positioned.set()
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for gid, since in list(self.gaps.items()):
                if now - since > self.gap_wait_s:
                    del self.gaps[gid]
            try:
                views, late = await asyncio.to_thread(self._fetch, self.last_id, sorted(self.gaps))
            except Exception:
                log.exception("event outbox: reading new events failed; retrying")
                await asyncio.sleep(1)
                continue
            for v in late:
                await self._publish(v)
                self.gaps.pop(v.id, None)
            for v in views:
                if v.id > self.last_id + 1:
                    self.gaps.update(dict.fromkeys(range(self.last_id + 1, min(v.id, self.last_id + 1001)), now))
                await self._publish(v)
                self.last_id = v.id
            if len(views) < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.interval_s)
                self.wake.clear()


def search_events(
    db: Database,
    *,
    camera_ids: list[int] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    types: list[str] | None = None,
    source: str | None = None,
    text: str | None = None,
    include_global: bool = True,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Newest first. ``camera_ids`` None = any camera; ``include_global`` adds events without camera."""
    q = select(EventRow)
    if camera_ids is not None:
        cond = EventRow.camera_id.in_(camera_ids)
        q = q.where(or_(cond, EventRow.camera_id.is_(None)) if include_global else cond)
    elif not include_global:
        q = q.where(EventRow.camera_id.is_not(None))
    if since_ms is not None:
        q = q.where(EventRow.time_ms >= since_ms)
    if until_ms is not None:
        q = q.where(EventRow.time_ms < until_ms)
    if types:
        q = q.where(EventRow.type.in_(types))
    if source:
        q = q.where(EventRow.source == source)
    if text:
        like = f"%{text.replace('%', '').replace('_', '')}%"
        q = q.where(or_(EventRow.text.ilike(like), EventRow.type.ilike(like)))
    q = q.order_by(EventRow.time_ms.desc(), EventRow.id.desc()).limit(limit)
    with db.session() as s:
        return [event_view(e) for e in s.scalars(q)]


def events_by_ids(db: Database, ids: list[int]) -> list[dict[str, Any]]:
    with db.session() as s:
        return [event_view(e) for e in s.scalars(select(EventRow).where(EventRow.id.in_(ids)).order_by(EventRow.id))]


def delete_old_events(db: Database, older_than_ms: int) -> int:
    """Retention of the events table (alarms keep their own history)."""
    with db.session() as s:
        res = s.execute(delete(EventRow).where(EventRow.time_ms < older_than_ms))
        return int(getattr(res, "rowcount", 0) or 0)


def redact_event(
    db: Database, event_id: int, note: str, also: InTransaction[EventRow] | None = None
) -> tuple[dict[str, Any], list[int]] | None:
    """Remove what an event says (payload, text, snapshot reference, box), keeping that it happened
    (type, time, cameras) and ``note`` (who removed it, when). Returns (the new view, its cameras) or
    None when there is no such event. Who may do this is the caller's check; ``also`` runs in the same
    transaction (its audit entry)."""
    with db.session() as s:
        e = s.get(EventRow, event_id)
        if e is None:
            return None
        e.payload = {"redacted": note}
        e.text = None
        e.snapshot = None
        e.box = None
        s.flush()
        if also is not None:
            also(s, e)
        return event_view(e), event_cameras(e)


def delete_event(db: Database, event_id: int, also: InTransaction[EventRow] | None = None) -> bool:
    """``also`` runs in the same transaction when the event existed (its audit entry)."""
    with db.session() as s:
        e = s.get(EventRow, event_id)
        if e is None:
            return False
        s.delete(e)
        s.flush()
        if also is not None:
            also(s, e)
        return True


def event_cameras(e: EventRow) -> list[int]:
    cams = e.cameras if isinstance(e.cameras, list) else []
    out = [c for c in cams if isinstance(c, int) and not isinstance(c, bool)]
    if e.camera_id is not None and e.camera_id not in out:
        out.insert(0, e.camera_id)
    return out


def load_event(db: Database, event_id: int) -> tuple[dict[str, Any], list[int]] | None:
    """(view, cameras) of one event, or None."""
    with db.session() as s:
        e = s.get(EventRow, event_id)
        return None if e is None else (event_view(e), event_cameras(e))
