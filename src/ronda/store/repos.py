"""Repositories: the only place that knows how catalog, gaps, locks and events are queried."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, delete, func, insert, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, selectinload

from ronda.store import access_models as am
from ronda.store.db import mark_added
from ronda.store.models import Bookmark, Camera, CameraStream, Event, EvidenceLock, Gap, Segment, SystemState


# --- cameras -------------------------------------------------------------------------------------
def list_cameras(s: Session, include_deleted: bool = False) -> Sequence[Camera]:
    # Streams in one extra query, not one per camera.
    q = select(Camera).options(selectinload(Camera.streams)).order_by(Camera.id)
    if not include_deleted:
        q = q.where(Camera.deleted_ms.is_(None))
    return s.scalars(q).all()


# What the camera list shows of a camera and of its streams (``registry.camera_view``).
_LISTED_CAMERA = (Camera.id, Camera.name, Camera.enabled, Camera.username, Camera.password_enc, Camera.retention_days,
                  Camera.audio, Camera.transport, Camera.status, Camera.status_reason, Camera.onvif_address,
                  Camera.onvif_info, Camera.ptz)  # fmt: skip
_LISTED_STREAM = (CameraStream.camera_id, CameraStream.kind, CameraStream.url, CameraStream.record,
                  CameraStream.codec, CameraStream.width, CameraStream.height)  # fmt: skip


def camera_listing(s: Session) -> list[tuple[Row[Any], list[Any]]]:
    """Every camera (deleted ones excluded) with its streams, as plain rows in two queries: the camera
    list is read on every request of every client, and ORM objects cost more there than the query."""
    live = Camera.deleted_ms.is_(None)
    cams = s.execute(select(*_LISTED_CAMERA).where(live).order_by(Camera.id)).all()
    streams: dict[int, list[Any]] = {}
    q = select(*_LISTED_STREAM).join(Camera, Camera.id == CameraStream.camera_id).where(live)
    for st in s.execute(q.order_by(CameraStream.camera_id, CameraStream.kind)):
        streams.setdefault(st.camera_id, []).append(st)
    return [(c, streams.get(c.id, [])) for c in cams]


def get_camera(s: Session, camera_id: int, include_deleted: bool = False) -> Camera | None:
    cam = s.get(Camera, camera_id)
    if cam is None or (cam.deleted_ms is not None and not include_deleted):
        return None
    return cam


def set_camera_status(s: Session, camera_id: int, status: str, reason: str | None) -> None:
    s.execute(update(Camera).where(Camera.id == camera_id).values(status=status, status_reason=reason))


def set_stream_probe(s: Session, stream_id: int, codec: str | None, width: int | None, height: int | None) -> None:
    s.execute(update(CameraStream).where(CameraStream.id == stream_id).values(codec=codec, width=width, height=height))


def set_tcp_refused(s: Session, stream_id: int, when_ms: int | None) -> None:
    """Remember (or forget, None) that the camera refused RTP over TCP on this stream."""
    s.execute(update(CameraStream).where(CameraStream.id == stream_id).values(tcp_refused_ms=when_ms))


def _of_stream(model: type[Segment] | type[Gap], camera_id: int, stream: str) -> tuple[ColumnElement[bool], ...]:
    """The rows of one stream of a camera (segments and gaps are kept per stream)."""
    return model.camera_id == camera_id, model.stream == stream


# --- segments ------------------------------------------------------------------------------------
def add_segment(s: Session, seg: Segment) -> Segment:
    s.add(seg)
    s.flush()
    return seg


_SEGMENT_COLUMNS = ("camera_id", "stream", "start_ms", "end_ms", "bytes", "path", "sha256", "codec", "recovered",
                    "node", "location", "archive_key")  # fmt: skip


# One statement built once: its compiled form is reused, where ``.values(...)`` per call walked the values
# for a cache key on every segment.
_INSERT_SEGMENT = insert(cast("Table", Segment.__table__))


def insert_segment(s: Session, seg: Segment) -> Segment:
    """The recorder's hot path: one INSERT without the ORM's unit of work; ``seg`` (not added to
    the session) gets its id and is returned."""
    res = cast("CursorResult[Any]", s.execute(_INSERT_SEGMENT, {c: getattr(seg, c) for c in _SEGMENT_COLUMNS}))
    key = res.inserted_primary_key
    assert key is not None
    seg.id = key[0]
    return seg


def last_segment_end(s: Session, camera_id: int, stream: str) -> int | None:
    return s.scalar(select(func.max(Segment.end_ms)).where(*_of_stream(Segment, camera_id, stream)))


MAX_SEGMENT_MS = 3_600_000  # no segment is longer (they are cut every <= 10 s, at keyframes)


def latest_segments(s: Session, camera_id: int, stream: str, count: int) -> list[Segment]:
    """The ``count`` most recent segments of a stream, oldest first."""
    rows = s.scalars(
        select(Segment).where(*_of_stream(Segment, camera_id, stream)).order_by(Segment.start_ms.desc()).limit(count)
    ).all()
    return list(reversed(rows))


def segments_overlapping(s: Session, camera_id: int, stream: str, start_ms: int, end_ms: int) -> Sequence[Segment]:
    """Every segment that overlaps [start, end) (unclipped), ordered by start."""
    return s.scalars(
        select(Segment)
        .where(
            *_of_stream(Segment, camera_id, stream),
            Segment.start_ms < end_ms,
            # a lower bound on the indexed column: without it the index is walked from the oldest
            # segment (58 ms for the newest footage of a 30-day catalog, 0.7 ms with it)
            Segment.start_ms > start_ms - MAX_SEGMENT_MS,
            Segment.end_ms > start_ms,
        )
        .order_by(Segment.start_ms)
    ).all()


def segment_runs(
    s: Session, camera_id: int, stream: str, start_ms: int, end_ms: int, merge_ms: int
) -> list[tuple[int, int, int]]:
    """Recorded time as runs ``(start, end, segments)``: segments closer than ``merge_ms`` join one run.

    Done in SQL (window functions, SQLite and PostgreSQL) so that a 30-day zoom-out over ~400 k
    segments returns a few hundred rows instead of moving every segment into Python: only the rows
    that start a run come back (with the end of the segment before them and their row number),
    and the runs are put together from those.
    """
    where = (*_of_stream(Segment, camera_id, stream), Segment.start_ms < end_ms,
             Segment.end_ms > start_ms, Segment.start_ms > start_ms - MAX_SEGMENT_MS)  # fmt: skip
    inner = (
        select(
            Segment.start_ms.label("a"),
            func.lag(Segment.end_ms).over(order_by=Segment.start_ms).label("prev_end"),
            func.row_number().over(order_by=Segment.start_ms).label("rn"),
        )
        .where(*where)
        .subquery()
    )
    starts = s.execute(
        select(inner.c.a, inner.c.prev_end, inner.c.rn)
        .where(or_(inner.c.prev_end.is_(None), inner.c.a - inner.c.prev_end > merge_ms))
        .order_by(inner.c.a)
    ).all()
    if not starts:
        return []
    last_end, total = s.execute(select(func.max(Segment.end_ms), func.count()).where(*where)).one()
    runs = []
    for i, (a, _prev, rn) in enumerate(starts):
        if i + 1 < len(starts):
            end, n = int(starts[i + 1][1]), int(starts[i + 1][2]) - int(rn)
        else:
            end, n = int(last_end), int(total) - int(rn) + 1
        runs.append((int(a), end, n))
    return runs


def used_bytes(s: Session) -> int:
    return int(s.scalar(select(func.coalesce(func.sum(Segment.bytes), 0))) or 0)


def oldest_segments(
    s: Session, limit: int, camera_id: int | None = None, before_ms: int | None = None
) -> Sequence[Segment]:
    q = select(Segment).order_by(Segment.start_ms).limit(limit)
    if camera_id is not None:
        q = q.where(Segment.camera_id == camera_id)
    if before_ms is not None:
        q = q.where(Segment.end_ms <= before_ms)
    return s.scalars(q).all()


def delete_segments(s: Session, ids: Sequence[int]) -> None:
    if ids:
        s.execute(delete(Segment).where(Segment.id.in_(list(ids))))


# --- gaps ----------------------------------------------------------------------------------------
def open_gap(s: Session, camera_id: int, stream: str) -> Gap | None:
    return s.scalars(
        select(Gap)
        .where(*_of_stream(Gap, camera_id, stream), Gap.end_ms.is_(None))
        .order_by(Gap.start_ms.desc())
        .limit(1)
    ).first()


def gaps_overlapping(s: Session, camera_id: int, stream: str, start_ms: int, end_ms: int) -> Sequence[Gap]:
    return s.scalars(
        select(Gap)
        .where(
            *_of_stream(Gap, camera_id, stream),
            Gap.start_ms < end_ms,
            or_(Gap.end_ms.is_(None), Gap.end_ms > start_ms),
        )
        .order_by(Gap.start_ms)
    ).all()


def last_gap_end(s: Session, camera_id: int, stream: str) -> int | None:
    return s.scalar(select(func.max(Gap.end_ms)).where(*_of_stream(Gap, camera_id, stream)))


# --- evidence locks ------------------------------------------------------------------------------
def active_locks(s: Session, now: int, camera_id: int | None = None) -> Sequence[EvidenceLock]:
    q = select(EvidenceLock).where(or_(EvidenceLock.until_ms.is_(None), EvidenceLock.until_ms > now))
    if camera_id is not None:
        q = q.where(EvidenceLock.camera_id == camera_id)
    return s.scalars(q).all()


def is_locked(s: Session, camera_id: int, start_ms: int, end_ms: int, now: int) -> bool:
    return (
        s.scalar(
            select(func.count(EvidenceLock.id)).where(
                EvidenceLock.camera_id == camera_id,
                EvidenceLock.start_ms < end_ms,
                EvidenceLock.end_ms > start_ms,
                or_(EvidenceLock.until_ms.is_(None), EvidenceLock.until_ms > now),
            )
        )
        or 0
    ) > 0


def unlocked_condition(now: int) -> Any:
    """SQL condition: the segment overlaps no active evidence lock of its camera."""
    lock = (
        select(EvidenceLock.id)
        .where(
            EvidenceLock.camera_id == Segment.camera_id,
            EvidenceLock.start_ms < Segment.end_ms,
            EvidenceLock.end_ms > Segment.start_ms,
            or_(EvidenceLock.until_ms.is_(None), EvidenceLock.until_ms > now),
        )
        .exists()
    )
    return ~lock


# --- events --------------------------------------------------------------------------------------
def add_events(s: Session, rows: list[dict[str, Any]]) -> list[int]:
    """The one function that stores events (columns of ``events`` per row), in the caller's transaction
    (an event is written with what caused it: the transactional outbox). Returns their ids, in order.
    The commit wakes the events role's outbox relay (``Database.on_commit_adding``)."""
    if not rows:
        return []
    ids = list(s.scalars(insert(Event).returning(Event.id), rows))
    mark_added(s, Event)
    return ids


def add_event(
    s: Session,
    type: str,
    time_ms: int,
    camera_id: int | None = None,
    severity: str = "info",
    source: str = "system",
    payload: dict[str, Any] | None = None,
) -> int:
    """One event (``add_events``); returns its id."""
    row = {"type": type, "time_ms": time_ms, "camera_id": camera_id, "severity": severity, "source": source,
           "payload": payload}  # fmt: skip
    return add_events(s, [row])[0]


# --- bookmarks -----------------------------------------------------------------------------------
def add_bookmark(s: Session, bookmark: Bookmark) -> Bookmark:
    s.add(bookmark)
    s.flush()
    return bookmark


def get_bookmark(s: Session, bookmark_id: int) -> Bookmark | None:
    return s.get(Bookmark, bookmark_id)


def list_bookmarks(
    s: Session, camera_ids: Sequence[int], start_ms: int | None, end_ms: int | None, limit: int
) -> Sequence[Bookmark]:
    """Bookmarks of ``camera_ids`` overlapping ``[start, end)`` (either bound optional), latest start first."""
    if not camera_ids:
        return []
    q = select(Bookmark).where(Bookmark.camera_id.in_(sorted(set(camera_ids))))
    if end_ms is not None:
        q = q.where(Bookmark.start_ms < end_ms)
    if start_ms is not None:
        q = q.where(Bookmark.end_ms > start_ms)
    return s.scalars(q.order_by(Bookmark.start_ms.desc(), Bookmark.id.desc()).limit(limit)).all()


def bookmarks_overlapping(s: Session, camera_id: int, start_ms: int, end_ms: int, limit: int) -> Sequence[Bookmark]:
    """Bookmarks of one camera overlapping ``[start, end)``, earliest first (uses ix_bookmarks_cam_start)."""
    return s.scalars(
        select(Bookmark)
        .where(Bookmark.camera_id == camera_id, Bookmark.start_ms < end_ms, Bookmark.end_ms > start_ms)
        .order_by(Bookmark.start_ms, Bookmark.id)
        .limit(limit)
    ).all()


# --- timeline ------------------------------------------------------------------------------------
def existing_camera_ids(s: Session, camera_ids: Sequence[int]) -> set[int]:
    """Which of ``camera_ids`` exist (deleted cameras included: their footage stays until retention)."""
    if not camera_ids:
        return set()
    return set(s.scalars(select(Camera.id).where(Camera.id.in_(sorted(set(camera_ids))))).all())


def timeline_gaps(
    s: Session, camera_id: int, stream: str, start_ms: int, end_ms: int, min_ms: int, now: int, limit: int | None
) -> Sequence[Gap]:
    """Gaps overlapping ``[start, end)`` at least ``min_ms`` long (open gaps run until ``now``), earliest
    first; the length filter runs in SQL so that a flapping camera's thousands of tiny gaps stay there."""
    length = func.coalesce(Gap.end_ms, now) - Gap.start_ms
    q = (
        select(Gap)
        .where(
            *_of_stream(Gap, camera_id, stream),
            Gap.start_ms < end_ms,
            or_(Gap.end_ms.is_(None), Gap.end_ms > start_ms),
            length >= min_ms,
        )
        .order_by(Gap.start_ms, Gap.id)
    )
    return s.scalars(q if limit is None else q.limit(limit)).all()


def locks_overlapping(
    s: Session, camera_id: int, start_ms: int, end_ms: int, now: int, limit: int | None
) -> Sequence[EvidenceLock]:
    """Evidence locks still active at ``now`` that overlap ``[start, end)``, earliest first."""
    q = (
        select(EvidenceLock)
        .where(
            EvidenceLock.camera_id == camera_id,
            EvidenceLock.start_ms < end_ms,
            EvidenceLock.end_ms > start_ms,
            or_(EvidenceLock.until_ms.is_(None), EvidenceLock.until_ms > now),
        )
        .order_by(EvidenceLock.start_ms, EvidenceLock.id)
    )
    return s.scalars(q if limit is None else q.limit(limit)).all()


def events_between(s: Session, camera_id: int, start_ms: int, end_ms: int, limit: int) -> Sequence[Event]:
    """Events of one camera in ``[start, end)``, earliest first (uses ix_events_cam_time)."""
    return s.scalars(
        select(Event)
        .where(Event.camera_id == camera_id, Event.time_ms >= start_ms, Event.time_ms < end_ms)
        .order_by(Event.time_ms, Event.id)
        .limit(limit)
    ).all()


# --- system state --------------------------------------------------------------------------------
def get_state(s: Session, key: str) -> dict[str, Any] | None:
    row = s.get(SystemState, key)
    return dict(row.value) if row else None


def put_state(s: Session, key: str, value: dict[str, Any]) -> None:
    row = s.get(SystemState, key)
    if row is None:
        s.add(SystemState(key=key, value=value))
    else:
        row.value = value


# --- camera groups ---------------------------------------------------------------------------------
def groups_by_camera(s: Session, organisation_id: int | None) -> dict[int, list[dict[str, Any]]]:
    """camera id → ``[{"id", "name", "organisation"}]`` of the groups it is in, limited for an
    organisation to the groups it owns or that are shared with it (``None``: every group)."""
    q = (
        select(am.CameraGroupMember.camera_id, am.CameraGroup.id, am.CameraGroup.name, am.Organisation.name)
        .join(am.CameraGroup, am.CameraGroup.id == am.CameraGroupMember.group_id)
        .outerjoin(am.Organisation, am.Organisation.id == am.CameraGroup.organisation_id)
    )
    if organisation_id is not None:
        shared = select(am.CameraShare.camera_group_id).where(am.CameraShare.organisation_id == organisation_id)
        q = q.where(or_(am.CameraGroup.organisation_id == organisation_id, am.CameraGroup.id.in_(shared)))
    out: dict[int, list[dict[str, Any]]] = {}
    for cam_id, gid, gname, org in s.execute(q.order_by(am.CameraGroup.name)):
        out.setdefault(cam_id, []).append({"id": gid, "name": gname, "organisation": org})
    return out


def mark_camera_unchecked(s: Session, camera_id: int) -> None:
    """A camera added without connecting to it: "offline" until the recorder reached it."""
    row = s.get(Camera, camera_id)
    if row is not None and row.status == "starting":
        row.status, row.status_reason = "offline", None


def organisation_user_ids(s: Session, organisation_id: int | None) -> list[int]:
    return list(s.scalars(select(am.User.id).where(am.User.organisation_id == organisation_id)))


def all_locks(s: Session) -> Sequence[EvidenceLock]:
    """Every evidence lock, oldest first (expired ones too, until retention removes them)."""
    return s.scalars(select(EvidenceLock).order_by(EvidenceLock.id)).all()


# --- WebSocket tickets shared by the API nodes ------------------------------------------------------------------
def add_ws_ticket(s: Session, row: am.WsTicket, now: int) -> None:
    """Store a ticket; the expired ones go in the same transaction (the table holds seconds of tickets)."""
    s.execute(delete(am.WsTicket).where(am.WsTicket.expires_ms <= now))
    s.add(row)


def take_ws_ticket(s: Session, ticket_hash: str) -> am.WsTicket | None:
    """The ticket's row, deleted in the same statement: of two nodes redeeming it at once, one gets it."""
    stmt = delete(am.WsTicket).where(am.WsTicket.hash == ticket_hash).returning(am.WsTicket)
    return s.execute(stmt).scalar_one_or_none()
