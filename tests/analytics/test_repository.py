"""The analytics repository on a real catalog (SQLite and PostgreSQL): settings with their audit entry,
motion merged by minute, search, strip, object records, and the retention prune."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from ronda.access.audit import AuditLog
from ronda.analytics import repository as repo
from ronda.analytics.model import GRID_BYTES, MotionHit, MotionSecond, TrackedObject, pack_cells, region_mask
from ronda.analytics.settings import AnalyticsSettings
from ronda.config import StorageConfig
from ronda.errors import Invalid
from ronda.recording.retention import Retention
from ronda.store.access_models import AuditEntry
from ronda.store.analytics_models import AnalyticsObject, MotionMinute
from ronda.store.models import Camera, Segment

T0 = 1_800_000_000  # epoch seconds, a whole minute (1_800_000_000 % 60 == 0)
LEFT_TOP = region_mask((0.0, 0.0, 0.25, 0.33))  # columns 0-3, rows 0-2


def sec(camera: int, t: int, cells: set[tuple[int, int]], level: int = 20) -> MotionSecond:
    return MotionSecond(camera, T0 + t, pack_cells(cells), level)


def test_settings_round_trip_defaults_and_audit(db, tmp_path):
    audit = AuditLog.open(db, tmp_path / "keys")
    with db.session() as s:
        assert repo.get_settings(s, 1) is None
        stored = repo.put_settings(s, 1, {"detectors": ["objects"], "zones": [
            {"name": "door", "kind": "include", "points": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]]}]}, "admin", 5,
            audit=audit, source_ip="127.0.0.1")  # fmt: skip
        assert stored.detectors == ["motion", "objects"]  # objects run on motion
    with db.session() as s:
        got = repo.get_settings(s, 1)
        assert got == stored and isinstance(got, AnalyticsSettings)
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "analytics.settings")).one()
        assert entry.actor == "admin" and entry.camera_id == 1
        repo.put_settings(s, 1, {}, "admin", 6)
    with db.session() as s:
        assert repo.get_settings(s, 1) == AnalyticsSettings()
        assert set(repo.all_settings(s)) == {1}
    with pytest.raises(Invalid) as e, db.session() as s:
        repo.put_settings(s, 2, {"zones": [{"name": "x", "kind": "mask", "points": [[0, 0], [1, 1]]}]}, "a", 1)
    assert "at least 3 points" in str(e.value.detail)
    with db.session() as s:
        assert repo.get_settings(s, 2) is None


def test_motion_merges_by_minute_and_is_idempotent(db):
    rows = [sec(1, 0, {(0, 0)}, 10), sec(1, 1, {(1, 0)}, 30), sec(1, 61, {(2, 2)}, 5), sec(2, 0, {(5, 5)}, 50)]
    with db.session() as s:
        assert repo.add_motion(s, rows) == 3  # (cam 1, minute 0), (cam 1, minute 1), (cam 2, minute 0)
    with db.session() as s:
        repo.add_motion(s, rows)  # again: nothing changes
        repo.add_motion(s, [sec(1, 0, {(3, 0)}, 5), MotionSecond(1, T0 + 2, bytes(GRID_BYTES), 0)])  # merge; skip
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(MotionMinute)) == 3
        got = repo.motion_seconds(s, 1, T0 * 1000, (T0 + 120) * 1000)
        assert got == [sec(1, 0, {(0, 0), (3, 0)}, 10), sec(1, 1, {(1, 0)}, 30), sec(1, 61, {(2, 2)}, 5)]
        assert repo.motion_seconds(s, 1, (T0 + 1) * 1000 + 500, (T0 + 61) * 1000) == [sec(1, 1, {(1, 0)}, 30)]
        assert repo.motion_seconds(s, 3, T0 * 1000, (T0 + 120) * 1000) == []
    with pytest.raises(Invalid), db.session() as s:
        repo.add_motion(s, [MotionSecond(1, T0, b"\x01", 5)])
    with pytest.raises(Invalid), db.session() as s:
        repo.add_motion(s, [MotionSecond(1, T0, pack_cells({(0, 0)}), 101)])


def test_search_joins_short_gaps_scores_and_ignores_other_cells(db):
    rows = [sec(1, t, {(0, 0)}) for t in (10, 11, 14)]  # gap of 2 quiet seconds: one run 10..14
    rows += [sec(1, 18, {(0, 0), (1, 0), (2, 0), (3, 0)})]  # gap of 3: a new run, 4 of 12 cells
    rows += [sec(1, t, {(10, 7), (11, 8)}) for t in range(0, 120)]  # busy elsewhere, never in the region
    rows += [sec(1, 59, {(1, 1)}), sec(1, 60, {(2, 2)})]  # across a minute boundary: one run
    with db.session() as s:
        repo.add_motion(s, rows)
    with db.session() as s:
        hits = repo.search_motion(s, 1, T0 * 1000, (T0 + 120) * 1000, LEFT_TOP)
        ms = (T0 + 0) * 1000
        assert hits == [MotionHit(ms + 10_000, ms + 15_000, 1 / 12), MotionHit(ms + 18_000, ms + 19_000, 4 / 12),
                        MotionHit(ms + 59_000, ms + 61_000, 1 / 12)]  # fmt: skip
        # min_cells: only the second with 4 cells
        assert repo.search_motion(s, 1, T0 * 1000, (T0 + 120) * 1000, LEFT_TOP, min_cells=2) == [hits[1]]
        # clipped to the range; another camera has nothing
        assert repo.search_motion(s, 1, ms + 12_500, ms + 13_000, LEFT_TOP) == []
        assert repo.search_motion(s, 1, ms + 11_500, ms + 14_200, LEFT_TOP) == [
            MotionHit(ms + 11_500, ms + 14_200, 1 / 12)]  # fmt: skip
        assert repo.search_motion(s, 2, T0 * 1000, (T0 + 120) * 1000, LEFT_TOP) == []
        assert repo.search_motion(s, 1, T0 * 1000, (T0 + 120) * 1000, 0) == []


def test_strip_takes_the_largest_level_per_bucket(db):
    with db.session() as s:
        repo.add_motion(s, [sec(1, 5, {(0, 0)}, 10), sec(1, 6, {(0, 0)}, 40), sec(1, 70, {(0, 0)}, 90),
                            sec(1, 3600 * 5, {(0, 0)}, 55)])  # fmt: skip
    with db.session() as s:
        start = T0 * 1000
        assert repo.motion_strip(s, 1, start, start + 120_000, 4) == [40, 0, 90, 0]  # 30 s buckets: per second
        day = repo.motion_strip(s, 1, start, start + 86_400_000, 24)  # hours: the minutes' largest levels
        assert day[0] == 90 and day[5] == 55 and sum(day) == 145
        with pytest.raises(Invalid):
            repo.motion_strip(s, 1, start, start, 4)


def test_objects_are_stored_updated_and_searched(db):
    person = TrackedObject(7, "person", 0.5, (0.1, 0.1, 0.2, 0.4), 1_000_000, 1_005_000, {"door"})
    with db.session() as s:
        pid = repo.add_object(s, 1, person)
        cid = repo.add_object(s, 2, TrackedObject(8, "car", 0.9, (0.5, 0.5, 0.9, 0.9), 1_010_000, 1_020_000))
        old = repo.add_object(s, 1, TrackedObject(9, "person", 0.6, (0, 0, 0.1, 0.1), 10_000, 11_000))
    with db.session() as s:
        later = TrackedObject(7, "person", 0.8, (0.2, 0.1, 0.3, 0.4), 1_000_000, 1_009_000, {"street"})
        assert repo.update_object(s, pid, later, snapshot="analytics/1/7.jpg", event_id=42)
        assert repo.update_object(s, pid, TrackedObject(7, "person", 0.3, (0, 0, 1, 1), 1_000_000, 1_008_000))
        assert not repo.update_object(s, 10**9, later)
    with db.session() as s:
        p = repo.get_object(s, pid)
        assert p is not None
        assert (p.score, p.box, p.last_ms, p.zones, p.snapshot, p.event_id) == (
            0.8, (0.2, 0.1, 0.3, 0.4), 1_009_000, ("door", "street"), "analytics/1/7.jpg", 42)  # fmt: skip
        found = repo.search_objects(s, [1, 2], 1_000_000, 1_100_000)
        assert [o.id for o in found] == [cid, pid]  # newest first
        assert [o.id for o in repo.search_objects(s, [1, 2], 1_000_000, 1_100_000, classes=["person"])] == [pid]
        assert [o.id for o in repo.search_objects(s, [1, 2], 1_000_000, 1_100_000, zone="street")] == [pid]
        assert repo.search_objects(s, [1, 2], 1_000_000, 1_100_000, zone="nowhere") == []
        assert [o.id for o in repo.search_objects(s, [2], 0, 2_000_000)] == [cid]
        assert [o.id for o in repo.search_objects(s, [1], 1_008_000, 1_008_001)] == [pid]  # seen in the range
        assert [o.id for o in repo.search_objects(s, [1, 2], 0, 2_000_000, limit=2)] == [cid, pid]
        assert [o.id for o in repo.search_objects(s, [1], 0, 20_000)] == [old]
        assert repo.search_objects(s, [], 0, 2_000_000) == []


def test_retention_takes_motion_and_objects_older_than_the_oldest_recording(db, tmp_path):
    """Recording retention deletes camera 1's old footage; with the hook installed (as runtime does), its
    motion minutes and objects before the oldest remaining recording go in the same transaction, camera
    2's stay."""
    root = tmp_path / "rec"
    root.mkdir()
    old_start, kept_start = (T0 - 3 * 86_400) * 1000, (T0 - 600) * 1000
    with db.session() as s:
        for cam in (1, 2):
            for start in (old_start, kept_start):
                s.add(Segment(camera_id=cam, stream="main", start_ms=start, end_ms=start + 4000, bytes=10,
                              path=f"{cam}/{start}.mp4", sha256="0" * 64))  # fmt: skip
        for cam in (1, 2):
            repo.add_motion(s, [MotionSecond(cam, old_start // 1000 + 1, pack_cells({(0, 0)}), 9),
                                MotionSecond(cam, kept_start // 1000 + 1, pack_cells({(0, 0)}), 9)])  # fmt: skip
            repo.add_object(s, cam, TrackedObject(1, "car", 0.7, (0, 0, 1, 1), old_start, old_start + 3000))
            repo.add_object(s, cam, TrackedObject(2, "car", 0.7, (0, 0, 1, 1), kept_start, kept_start + 3000))
    with db.session() as s:
        s.execute(update(Camera).where(Camera.id == 1).values(retention_days=1))  # camera 2 keeps the default 30 days
    retention = Retention(db, root, StorageConfig(delete_below_free_percent=0))
    retention.on_deleted = repo.prune
    assert retention.run(T0 * 1000).deleted == 1
    with db.session() as s:
        minutes = {(r.camera_id, r.minute * 60_000) for r in s.scalars(select(MotionMinute))}
        assert minutes == {(1, kept_start // 60_000 * 60_000), (2, old_start), (2, kept_start // 60_000 * 60_000)}
        objects = sorted((o.camera_id, o.first_ms) for o in s.scalars(select(AnalyticsObject)))
        assert objects == [(1, kept_start), (2, old_start), (2, kept_start)]


def test_cameras_without_any_recording_keep_records_for_their_retention_only(db):
    """A camera whose streams are not recorded never meets recording retention: ``prune_unrecorded``
    (periodic) keeps its records for its retention days (or the default), and leaves recorded cameras to
    ``prune``."""
    day = 86_400
    with db.session() as s:
        s.execute(update(Camera).where(Camera.id == 1).values(retention_days=2))
        s.add(Segment(camera_id=3, stream="main", start_ms=T0 * 1000, end_ms=T0 * 1000 + 4000, bytes=1, path="x",
                      sha256="0" * 64))  # fmt: skip
        for cam in (1, 2, 3):
            for age_days in (1, 5, 40):
                t = T0 - age_days * day
                repo.add_motion(s, [MotionSecond(cam, t, pack_cells({(0, 0)}), 9)])
                repo.add_object(s, cam, TrackedObject(age_days, "car", 0.7, (0, 0, 1, 1), t * 1000, t * 1000 + 500))
    with db.session() as s:
        assert repo.prune_unrecorded(s, T0 * 1000, 30) == 3  # cameras 1, 2 and 4 (no segments)
    with db.session() as s:
        ages = {(r.camera_id, (T0 - r.minute * 60) // day) for r in s.scalars(select(MotionMinute))}
        assert ages == {(1, 1), (2, 1), (2, 5), (3, 1), (3, 5), (3, 40)}
        objects = {(o.camera_id, o.track) for o in s.scalars(select(AnalyticsObject))}
        assert objects == {(1, 1), (2, 1), (2, 5), (3, 1), (3, 5), (3, 40)}
