"""The analytics SQL (docs/analytics.md, "Settings, records and search"): per-camera settings, motion
records and object records (tables in ``store/analytics_models.py``). Every function takes the caller's
session, so a caller's work is one transaction.

Motion is stored per camera-minute that had motion, not per second: one row holds the minute's 60 cell
grids (``GRID_BYTES`` each, zeros for a second without motion) and 60 levels, zlib-compressed, plus the
union of its grids (``cells_any``), its largest level and how many seconds moved. A busy camera-day is
then 1,440 rows, and a search over a day reads one primary-key range and unpacks only the minutes whose
union touches the searched region. One writer per camera (its analytics worker) is assumed: a second
written twice merges (cells OR-ed, the larger level kept), so writing it again changes nothing.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ronda.access.audit import AuditLog
from ronda.analytics.model import GRID_BYTES, GRID_COLS, GRID_ROWS, Box, MotionHit, MotionSecond, TrackedObject
from ronda.analytics.settings import AnalyticsSettings
from ronda.errors import Invalid
from ronda.store.analytics_models import AnalyticsObject, AnalyticsSettingsRow, MotionMinute
from ronda.store.models import Camera, Segment

SECONDS = 60
_CELLS = SECONDS * GRID_BYTES  # 1,080 bytes of grids, then 60 level bytes
_RAW = _CELLS + SECONDS
_ZERO_GRID = bytes(GRID_BYTES)
GRID_CELLS = GRID_COLS * GRID_ROWS
JOIN_GAP_S = 2  # runs of motion at most this many quiet seconds apart are one hit
# An object is found by a search when it was seen in the range and first seen at most this long before
# its start (bounds the index range; a track longer than a day is split by the tracker anyway).
MAX_TRACK_MS = 24 * 3_600_000


# --- settings ----------------------------------------------------------------------------------------------
def validate_settings(data: Any) -> AnalyticsSettings:
    """Settings from outside (a JSON body, a YAML block) → the validated model, or ``Invalid`` with every
    problem and where it is (``zones.0.points``...)."""
    if isinstance(data, AnalyticsSettings):
        data = data.model_dump()
    try:
        return AnalyticsSettings.model_validate(data)
    except ValidationError as e:
        raise Invalid(
            [{"loc": list(x["loc"]), "msg": x["msg"].removeprefix("Value error, "), "type": x["type"]}
             for x in e.errors()]
        ) from None  # fmt: skip


def get_settings(s: Session, camera_id: int) -> AnalyticsSettings | None:
    """The camera's stored settings, or None (the camera runs the defaults: ``AnalyticsSettings()``)."""
    row = s.get(AnalyticsSettingsRow, camera_id)
    return AnalyticsSettings.model_validate(row.settings) if row is not None else None


def all_settings(s: Session) -> dict[int, AnalyticsSettings]:
    """Every camera's stored settings (cameras without a row are left out)."""
    return {r.camera_id: AnalyticsSettings.model_validate(r.settings) for r in s.scalars(select(AnalyticsSettingsRow))}


def put_settings(s: Session, camera_id: int, settings: Any, actor: str, now_ms: int,
                 audit: AuditLog | None = None, source_ip: str | None = None) -> AnalyticsSettings:  # fmt: skip
    """Validate and store the camera's settings; audited (``analytics.settings``) in the same transaction
    when ``audit`` is given."""
    checked = validate_settings(settings)
    value = checked.model_dump(mode="json")
    row = s.get(AnalyticsSettingsRow, camera_id)
    if row is None:
        s.add(AnalyticsSettingsRow(camera_id=camera_id, settings=value, updated_ms=now_ms, updated_by=actor))
    else:
        row.settings, row.updated_ms, row.updated_by = value, now_ms, actor
    s.flush()
    if audit is not None:
        audit.record(s, actor, "analytics.settings", "ok", camera_id, source_ip=source_ip,
                     details={"detectors": checked.detectors, "zones": len(checked.zones)})  # fmt: skip
    return checked


# --- motion: packing -----------------------------------------------------------------------------------------
def _pack(grids: Sequence[bytes], levels: Sequence[int]) -> bytes:
    return zlib.compress(b"".join(grids) + bytes(levels), 6)


def _unpack(data: bytes) -> tuple[list[bytes], bytes]:
    raw = zlib.decompress(data)
    if len(raw) != _RAW:
        raise ValueError(f"a motion minute unpacks to {len(raw)} bytes, not {_RAW}")
    return [raw[i * GRID_BYTES : (i + 1) * GRID_BYTES] for i in range(SECONDS)], raw[_CELLS:]


def _or(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(GRID_BYTES, "little")


@dataclass(slots=True)
class _Minute:
    grids: list[bytes]
    levels: list[int]

    @classmethod
    def empty(cls) -> _Minute:
        return cls([_ZERO_GRID] * SECONDS, [0] * SECONDS)

    @classmethod
    def of(cls, data: bytes) -> _Minute:
        grids, levels = _unpack(data)
        return cls(grids, list(levels))

    def merge(self, i: int, cells: bytes, level: int) -> None:
        self.grids[i] = _or(self.grids[i], cells)
        self.levels[i] = max(self.levels[i], level)

    def values(self) -> dict[str, Any]:
        union = 0
        for g in self.grids:
            union |= int.from_bytes(g, "little")
        moved = sum(1 for g, lv in zip(self.grids, self.levels, strict=True) if lv or g != _ZERO_GRID)
        return {"cells_any": union.to_bytes(GRID_BYTES, "little"), "max_level": max(self.levels), "seconds": moved,
                "data": _pack(self.grids, self.levels)}  # fmt: skip


def _check_second(m: MotionSecond) -> None:
    if len(m.cells) != GRID_BYTES:
        raise Invalid(f"a motion grid has {GRID_BYTES} bytes, got {len(m.cells)}")
    if not 0 <= m.level <= 100:
        raise Invalid(f"a motion level is 0..100, got {m.level}")
    if m.camera_id < 1 or m.second < 0:
        raise Invalid("a motion second needs a camera id and a second since the epoch")


def add_motion(s: Session, rows: Iterable[MotionSecond]) -> int:
    """Merge seconds of motion into their camera-minutes (any number of cameras and minutes; a second
    with no cells and level 0 is skipped). Idempotent: a second written twice merges with itself.
    Returns how many minute rows were written."""
    by_minute: dict[tuple[int, int], list[MotionSecond]] = defaultdict(list)
    for m in rows:
        _check_second(m)
        if m.level == 0 and m.cells == _ZERO_GRID:
            continue
        by_minute[(m.camera_id, m.second // SECONDS)].append(m)
    if not by_minute:
        return 0
    per_camera: dict[int, list[int]] = defaultdict(list)
    for cam, minute in by_minute:
        per_camera[cam].append(minute)
    # Plain rows, not ORM objects: nothing stale stays in the session's identity map after the upsert.
    existing: dict[tuple[int, int], bytes] = {}
    for cam, minutes in per_camera.items():
        wanted = set(minutes)
        q = select(MotionMinute.minute, MotionMinute.data).where(
            MotionMinute.camera_id == cam, MotionMinute.minute >= min(minutes), MotionMinute.minute <= max(minutes)
        )
        for minute, data in s.execute(q):
            if minute in wanted:
                existing[(cam, minute)] = data
    out: list[dict[str, Any]] = []
    for (cam, minute), seconds in by_minute.items():
        old = existing.get((cam, minute))
        mm = _Minute.of(old) if old is not None else _Minute.empty()
        for m in seconds:
            mm.merge(m.second - minute * SECONDS, m.cells, m.level)
        out.append({"camera_id": cam, "minute": minute, **mm.values()})
    _upsert_minutes(s, out)
    return len(out)


def _upsert_minutes(s: Session, values: list[dict[str, Any]]) -> None:
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    for i in range(0, len(values), 500):
        stmt = insert(MotionMinute)
        stmt = stmt.on_conflict_do_update(
            index_elements=[MotionMinute.camera_id, MotionMinute.minute],
            set_={k: stmt.excluded[k] for k in ("cells_any", "max_level", "seconds", "data")},
        )
        s.execute(stmt, values[i : i + 500])


def _minutes(s: Session, camera_id: int, start_ms: int, end_ms: int, columns: Sequence[Any]) -> Any:
    first, last = start_ms // 60_000, (end_ms - 1) // 60_000
    return s.execute(
        select(MotionMinute.minute, *columns)
        .where(MotionMinute.camera_id == camera_id, MotionMinute.minute >= first, MotionMinute.minute <= last)
        .order_by(MotionMinute.minute)
    )


def _seconds_in(start_ms: int, end_ms: int, minute: int) -> range:
    """The indexes (0..59) of the minute's seconds that overlap [start_ms, end_ms)."""
    base = minute * 60_000
    lo = max(0, (start_ms - base) // 1000)
    hi = min(SECONDS, -(-(end_ms - base) // 1000))
    return range(lo, hi)


def motion_seconds(s: Session, camera_id: int, start_ms: int, end_ms: int) -> list[MotionSecond]:
    """The camera's seconds with motion that overlap [start_ms, end_ms), in time order."""
    out: list[MotionSecond] = []
    for minute, data in _minutes(s, camera_id, start_ms, end_ms, [MotionMinute.data]):
        grids, levels = _unpack(data)
        for i in _seconds_in(start_ms, end_ms, minute):
            if levels[i] or grids[i] != _ZERO_GRID:
                out.append(MotionSecond(camera_id, minute * SECONDS + i, grids[i], levels[i]))
    return out


def search_motion(s: Session, camera_id: int, start_ms: int, end_ms: int, region_mask: int,
                  min_cells: int = 1) -> list[MotionHit]:  # fmt: skip
    """Runs of seconds in [start_ms, end_ms) with at least ``min_cells`` moving cells inside the region
    (``model.region_mask``); runs at most ``JOIN_GAP_S`` quiet seconds apart are one hit. A hit's score is
    the share of the region's cells that moved at its busiest second. Hits are clipped to the range."""
    cells = region_mask.bit_count()
    if cells == 0:
        return []
    min_cells = max(1, min_cells)
    hits: list[MotionHit] = []
    run: list[int] = []  # [first second, last second, most cells moved]

    def close() -> None:
        hits.append(MotionHit(max(start_ms, run[0] * 1000), min(end_ms, (run[1] + 1) * 1000), run[2] / cells))

    rows = _minutes(s, camera_id, start_ms, end_ms, [MotionMinute.cells_any, MotionMinute.data])
    for minute, cells_any, data in rows:
        if (int.from_bytes(cells_any, "little") & region_mask).bit_count() < min_cells:
            continue  # nothing in the region this minute: not unpacked
        grids, _levels = _unpack(data)
        for i in _seconds_in(start_ms, end_ms, minute):
            n = (int.from_bytes(grids[i], "little") & region_mask).bit_count()
            if n < min_cells:
                continue
            second = minute * SECONDS + i
            if run and second - run[1] - 1 <= JOIN_GAP_S:
                run[1], run[2] = second, max(run[2], n)
            else:
                if run:
                    close()
                run = [second, second, n]
    if run:
        close()
    return hits


def motion_strip(s: Session, camera_id: int, start_ms: int, end_ms: int, buckets: int) -> list[int]:
    """The largest motion level (0..100) in each of ``buckets`` equal parts of [start_ms, end_ms): the
    playback timeline's motion strip. Buckets of a minute or more read only the minutes' largest levels."""
    if buckets < 1 or end_ms <= start_ms:
        raise Invalid("a motion strip needs an end after its start and at least one bucket")
    span = end_ms - start_ms
    out = [0] * buckets

    def bucket(ms: int) -> int:
        return min(buckets - 1, max(0, (ms - start_ms) * buckets // span))

    if span // buckets >= 60_000:
        for minute, level in _minutes(s, camera_id, start_ms, end_ms, [MotionMinute.max_level]):
            lo, hi = bucket(max(start_ms, minute * 60_000)), bucket(min(end_ms, minute * 60_000 + 60_000) - 1)
            for b in range(lo, hi + 1):
                out[b] = max(out[b], level)
        return out
    for m in motion_seconds(s, camera_id, start_ms, end_ms):
        lo, hi = bucket(max(start_ms, m.second * 1000)), bucket(min(end_ms, m.second * 1000 + 1000) - 1)
        for b in range(lo, hi + 1):
            out[b] = max(out[b], m.level)
    return out


# --- objects ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ObjectRecord:
    """One tracked object as stored (``analytics_objects``)."""

    id: int
    camera_id: int
    track: int
    cls: str
    score: float
    first_ms: int
    last_ms: int
    box: Box
    zones: tuple[str, ...]
    snapshot: str | None
    event_id: int | None

    @classmethod
    def of(cls, r: AnalyticsObject) -> ObjectRecord:
        x0, y0, x1, y1 = (float(v) for v in r.box)
        return cls(r.id, r.camera_id, r.track, r.cls, r.score, r.first_ms, r.last_ms, (x0, y0, x1, y1),
                   tuple(r.zones), r.snapshot, r.event_id)  # fmt: skip


def add_object(s: Session, camera_id: int, obj: TrackedObject, snapshot: str | None = None,
               event_id: int | None = None) -> int:  # fmt: skip
    """Store a new track; returns its row id (for ``update_object``)."""
    row = AnalyticsObject(camera_id=camera_id, track=obj.track, cls=obj.cls, score=obj.score, first_ms=obj.first_ms,
                          last_ms=obj.last_ms, box=list(obj.box), zones=sorted(obj.zones), snapshot=snapshot,
                          event_id=event_id)  # fmt: skip
    s.add(row)
    s.flush()
    return row.id


def update_object(s: Session, object_id: int, obj: TrackedObject, snapshot: str | None = None,
                  event_id: int | None = None) -> bool:  # fmt: skip
    """The track went on: its last time moves on, the zones it was in add up, and a better score takes
    its box (and ``snapshot``, when given). ``event_id`` is set once given. Whether the row exists."""
    row = s.get(AnalyticsObject, object_id)
    if row is None:
        return False
    row.last_ms = max(row.last_ms, obj.last_ms)
    row.first_ms = min(row.first_ms, obj.first_ms)
    row.zones = sorted(set(row.zones) | obj.zones)
    if obj.score > row.score:
        row.score, row.box, row.cls = obj.score, list(obj.box), obj.cls
        if snapshot is not None:
            row.snapshot = snapshot
    elif snapshot is not None and row.snapshot is None:
        row.snapshot = snapshot
    if event_id is not None:
        row.event_id = event_id
    return True


def get_object(s: Session, object_id: int) -> ObjectRecord | None:
    row = s.get(AnalyticsObject, object_id)
    return ObjectRecord.of(row) if row is not None else None


def search_objects(s: Session, cameras: Sequence[int], start_ms: int, end_ms: int,
                   classes: Sequence[str] | None = None, zone: str | None = None,
                   limit: int = 100) -> list[ObjectRecord]:  # fmt: skip
    """Objects of ``cameras`` seen in [start_ms, end_ms) (first seen at most ``MAX_TRACK_MS`` before the
    start), of one of ``classes`` (None: any) and, with ``zone``, seen in that zone; newest first."""
    if not cameras:
        return []
    q = (
        select(AnalyticsObject)
        .where(AnalyticsObject.camera_id.in_(list(cameras)), AnalyticsObject.first_ms < end_ms,
               AnalyticsObject.first_ms >= start_ms - MAX_TRACK_MS, AnalyticsObject.last_ms >= start_ms)
        .order_by(AnalyticsObject.first_ms.desc(), AnalyticsObject.id.desc())
    )  # fmt: skip
    if classes:
        q = q.where(AnalyticsObject.cls.in_(list(classes)))
    if zone is None:
        return [ObjectRecord.of(r) for r in s.scalars(q.limit(limit))]
    out: list[ObjectRecord] = []
    # Zones are a JSON list (no portable index): filtered here, reading in pages until the limit is met.
    for r in s.scalars(q.execution_options(yield_per=500)):
        if zone in r.zones:
            out.append(ObjectRecord.of(r))
            if len(out) >= limit:
                break
    return out


# --- retention -------------------------------------------------------------------------------------------------
def prune(s: Session, deleted_until: dict[int, int]) -> None:
    """After recording retention deleted footage (``recording.retention.Retention.on_deleted``, in the
    deletion's transaction): motion minutes and objects of each camera older than its oldest remaining
    recording go too. ``deleted_until``: camera → the end of the newest footage just deleted (the cutoff
    when the camera has no recording left)."""
    for camera_id, until in deleted_until.items():
        oldest = s.scalar(select(func.min(Segment.start_ms)).where(Segment.camera_id == camera_id))
        cutoff = oldest if oldest is not None else until
        # Whole minutes before the cutoff only: the minute it falls in still has kept footage.
        s.execute(delete(MotionMinute).where(MotionMinute.camera_id == camera_id,
                                             MotionMinute.minute < cutoff // 60_000))  # fmt: skip
        s.execute(delete(AnalyticsObject).where(AnalyticsObject.camera_id == camera_id,
                                                AnalyticsObject.last_ms < cutoff))  # fmt: skip


PruneHook = Callable[[Session, dict[int, int]], None]


def prune_unrecorded(s: Session, now_ms: int, default_retention_days: float) -> int:
    """For cameras with no recording at all (streams not recorded, or footage all gone), which ``prune``
    never hears of: motion minutes and objects older than the camera's retention (its ``retention_days``,
    else ``default_retention_days``) go. For a periodic task (the analytics service's). Returns how many
    cameras were pruned."""
    recorded = select(Segment.camera_id).distinct()
    done = 0
    for camera_id, days in s.execute(select(Camera.id, Camera.retention_days).where(Camera.id.not_in(recorded))):
        cutoff = now_ms - int((days if days is not None else default_retention_days) * 86_400_000)
        s.execute(delete(MotionMinute).where(MotionMinute.camera_id == camera_id,
                                             MotionMinute.minute < cutoff // 60_000))  # fmt: skip
        s.execute(delete(AnalyticsObject).where(AnalyticsObject.camera_id == camera_id,
                                                AnalyticsObject.last_ms < cutoff))  # fmt: skip
        done += 1
    return done


def motion_bytes(s: Session, camera_id: int | None = None) -> int:
    """Bytes of packed motion data (without row and index overhead): for measurements and the docs."""
    q = select(func.coalesce(func.sum(func.length(MotionMinute.data) + func.length(MotionMinute.cells_any)), 0))
    if camera_id is not None:
        q = q.where(MotionMinute.camera_id == camera_id)
    return int(s.scalar(q) or 0)


def set_object_snapshot(s: Session, object_id: int, snapshot: str | None) -> None:
    s.execute(update(AnalyticsObject).where(AnalyticsObject.id == object_id).values(snapshot=snapshot))
