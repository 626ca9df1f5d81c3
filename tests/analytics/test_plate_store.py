"""The plate-read store (SQLite and PostgreSQL): plate text, list matching, reads fed as ``EventOut``s
through the analytics service's result path (plate read rows, allowlist notes, ``plate.hotlist``
events with their own copy of the crop), search, the migration, and retention (plate days, footage,
unrecorded cameras; crops deleted with their rows)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import delete, func, inspect, select, text

from ronda.analytics.pipeline import EventOut
from ronda.analytics.plates import repository as repo
from ronda.analytics.plates import retention
from ronda.analytics.plates.hotlist import (
    Entry,
    PlateTextError,
    key_matches,
    match,
    normalise,
    normalise_pattern,
    plate_key,
)
from ronda.analytics.service import AnalyticsService
from ronda.config import AnalyticsConfig
from ronda.store.access_models import CameraGroup, CameraGroupMember, Organisation
from ronda.store.db import Database, alembic_config
from ronda.store.models import Camera, Segment
from ronda.store.models import Event as EventRow
from ronda.store.plate_models import PlateList, PlateListEntry, PlateRead

T0 = 1_800_000_000_000
DAY = 86_400_000
JPEG = b"\xff\xd8\xff\xe0fake-plate-crop\xff\xd9"


def test_plate_text_normalises_folds_and_matches() -> None:
    assert normalise(" ab 123-cd ") == "AB123CD" and normalise("ab.123.cd") == "AB123CD"
    assert plate_key("AB1O3CD") == plate_key("ABI03CD") == "AB103CD"
    for bad in ("", "AB 12 ✓", "A" * 13, "AB*12"):
        with pytest.raises(PlateTextError):
            normalise(bad)
    assert normalise_pattern("ab**12?") == "AB*12?"
    for bad in ("**", "?", "A" * 17, "AB%1", "A+B"):
        with pytest.raises(PlateTextError):
            normalise_pattern(bad)
    assert key_matches("AB*", "AB123CD") and not key_matches("AB*", "XAB123")
    assert key_matches("AB???CD", "AB123CD") and not key_matches("AB??CD", "AB123CD")
    assert key_matches("AB123CD", "AB123CD") and not key_matches("AB123C", "AB123CD")
    entries = [
        Entry(2, "stolen", "hotlist", "AB*", "AB*", "pattern"),
        Entry(3, "wanted", "hotlist", "AB1O3CD", plate_key("AB1O3CD"), "exact"),
        Entry(4, "residents", "allowlist", "AB103CD", "AB103CD", "lives here", valid_until_ms=T0),
    ]
    hits = match(entries, "AB103CD", T0 - 1)
    assert hits.hotlist is not None and hits.hotlist.reason == "exact"  # exact beats a pattern
    assert hits.allowlist is not None and hits.allowlist.list_name == "residents"
    assert match(entries, "AB103CD", T0).allowlist is None  # expired at T0
    assert match(entries, "ZZ999ZZ", T0) == type(hits)()


def _service(db: Database, data_dir: Path) -> AnalyticsService:
    return AnalyticsService(AnalyticsConfig(workers=1), db, data_dir / "recordings", data_dir)


def _read(plate: str, t: int, track: int = 7) -> EventOut:
    box = (0.4, 0.6, 0.55, 0.68)
    return EventOut("plate.read", t, {"plate": plate, "confidence": 0.93, "box": list(box), "track": track,
                                      "format": "it"}, box, snapshot=JPEG)  # fmt: skip


def _feed(svc: AnalyticsService, camera: int, *results: EventOut) -> None:
    """The service's result path: what a worker's pipe hands the writer thread."""
    svc._write([("results", (camera, list(results)))])


def _org_with_cameras(db: Database, name: str, cameras: list[int]) -> int:
    with db.session() as s:
        org = Organisation(name=name)
        s.add(org)
        s.flush()
        group = CameraGroup(organisation_id=org.id, name=f"{name} cameras")
        s.add(group)
        s.flush()
        s.add_all([CameraGroupMember(group_id=group.id, camera_id=c) for c in cameras])
        return org.id


def _list(db: Database, name: str, kind: str, org: int | None, *entries: tuple[str, str]) -> int:
    with db.session() as s:
        row = PlateList(name=name, kind=kind, organisation_id=org, description="", enabled=True, created_ms=1,
                        updated_ms=1, updated_by="test")  # fmt: skip
        s.add(row)
        s.flush()
        for plate, reason in entries:
            p = normalise_pattern(plate)
            s.add(PlateListEntry(list_id=row.id, plate=p, plate_key=plate_key(p), pattern="*" in p or "?" in p,
                                 reason=reason, created_ms=1, created_by="test"))  # fmt: skip
        return row.id


def _events(db: Database, type: str) -> list[EventRow]:
    with db.session() as s:
        return list(s.scalars(select(EventRow).where(EventRow.type == type).order_by(EventRow.id)))


def test_reads_from_the_result_path_with_hotlist_and_allowlist(db: Database, tmp_path: Path) -> None:
    town = _org_with_cameras(db, "Municipio", [1])
    police = _org_with_cameras(db, "Polizia", [2])
    stolen = _list(db, "stolen", "hotlist", None, ("AB103CD", "stolen 2026-11-30"))  # the site's: every camera
    residents = _list(db, "residents", "allowlist", town, ("ZT*", "resident permit"))  # town's cameras only
    _list(db, "police wanted", "hotlist", police, ("EF456GH", "wanted"))  # police's cameras only
    svc = _service(db, tmp_path)
    _feed(svc, 1, _read("AB1O3CD", T0), _read("zt 555 aa", T0 + 1000, 8), _read("EF456GH", T0 + 2000, 9))
    _feed(svc, 2, _read("ZT555AA", T0 + 3000), _read("EF456GH", T0 + 4000))

    with db.session() as s:
        reads = {(r.camera_id, r.time_ms): r for r in s.scalars(select(PlateRead))}
    assert len(reads) == 5
    r = reads[(1, T0)]
    assert (r.plate, r.plate_key, r.confidence, r.track, r.format) == ("AB1O3CD", "AB103CD", 0.93, 7, "it")
    assert r.box == [0.4, 0.6, 0.55, 0.68] and r.hotlist_id == stolen and r.allowlist_id is None
    assert (tmp_path / r.crop).read_bytes() == JPEG and r.crop.startswith("analytics/snapshots/1/")
    assert reads[(1, T0 + 1000)].allowlist_id == residents and reads[(1, T0 + 1000)].plate == "ZT555AA"
    assert reads[(2, T0 + 3000)].allowlist_id is None  # the town's allowlist does not reach the police camera
    assert reads[(1, T0 + 2000)].hotlist_id is None  # the police's hotlist does not reach the town camera
    assert reads[(2, T0 + 4000)].hotlist_id is not None

    plate_events = {e.id: e for e in _events(db, "plate.read")}
    assert {r.event_id for r in reads.values()} == set(plate_events)
    allowed = plate_events[reads[(1, T0 + 1000)].event_id]
    assert allowed.payload["allowlist"] == "residents" and "hotlist" not in allowed.payload
    hot = _events(db, "plate.hotlist")
    assert [(e.camera_id, e.payload["plate"], e.payload["list"]) for e in hot] == [
        (1, "AB1O3CD", "stolen"), (2, "EF456GH", "police wanted")]  # fmt: skip
    h = hot[0]
    assert h.severity == "critical" and h.source == "analytics" and h.time_ms == T0
    assert h.payload["reason"] == "stolen 2026-11-30" and h.payload["read_event"] == r.event_id
    assert h.payload["read"] == r.id and h.payload["entry"] == "AB103CD"
    assert h.snapshot and h.snapshot != r.crop and (tmp_path / h.snapshot).read_bytes() == JPEG  # its own copy


def test_a_bad_plate_is_an_event_without_a_read(db: Database, tmp_path: Path) -> None:
    _feed(_service(db, tmp_path), 1, _read("??!", T0))
    assert len(_events(db, "plate.read")) == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(PlateRead)) == 0


def test_search_partial_pattern_time_and_cameras(db: Database, tmp_path: Path) -> None:
    svc = _service(db, tmp_path)
    _feed(svc, 1, _read("AB123CD", T0), _read("XY123ZZ", T0 + 60_000), _read("AB999CD", T0 + 120_000))
    _feed(svc, 2, _read("AB123CD", T0 + 30_000))
    with db.session() as s:

        def plates(cams: list[int], key: str | None, start: int = T0, end: int = T0 + DAY, **kw: int) -> list:
            return [(r.camera_id, r.plate) for r in repo.search_reads(s, cams, start, end, key, **kw)]

        assert plates([1, 2], "AB123CD") == [(2, "AB123CD"), (1, "AB123CD")]  # newest first
        assert plates([1], "123") == [(1, "XY123ZZ"), (1, "AB123CD")]  # partial: anywhere
        assert plates([1], "AB*CD") == [(1, "AB999CD"), (1, "AB123CD")]
        assert plates([1], "AB???CD") == [(1, "AB999CD"), (1, "AB123CD")]
        assert plates([1], "AB*") == [(1, "AB999CD"), (1, "AB123CD")] and plates([1], "B*") == []  # whole plate
        assert plates([1], None, T0 + 1, T0 + 120_000) == [(1, "XY123ZZ")]  # [start, end)
        assert plates([1], plate_key("AB12")) == [(1, "AB123CD")]
        page1 = repo.search_reads(s, [1, 2], T0, T0 + DAY, None, limit=2)
        page2 = repo.search_reads(s, [1, 2], T0, T0 + DAY, None, limit=2, after=page1[-1].id)
        assert [r.time_ms for r in page1 + page2] == [T0 + 120_000, T0 + 60_000, T0 + 30_000, T0]
        assert plates([], "AB") == []


def test_migration_0015_comes_and_goes(db: Database) -> None:
    tables = {"plate_reads", "plate_lists", "plate_list_entries"}
    assert tables <= set(inspect(db.engine).get_table_names())
    idx = {i["name"] for i in inspect(db.engine).get_indexes("plate_reads")}
    assert {"ix_plate_reads_cam_time", "ix_plate_reads_key_time", "ix_plate_reads_time"} <= idx
    with db.engine.begin() as c:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = c
        command.downgrade(cfg, "0014")
    assert not tables & set(inspect(db.engine).get_table_names())
    with db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM cameras")).scalar_one() == 4
    db.upgrade()
    db.check()
    assert tables <= set(inspect(db.engine).get_table_names())


def _crops(db: Database) -> dict[int, str]:
    with db.session() as s:
        return {r.camera_id * 10**15 + r.time_ms: r.crop for r in s.scalars(select(PlateRead))}


def test_retention_plate_days_footage_and_unrecorded(db: Database, tmp_path: Path) -> None:
    svc = _service(db, tmp_path)
    now = T0 + 40 * DAY
    _feed(svc, 1, _read("AA111AA", T0), _read("AA222AA", now - 10 * DAY))  # 40 days old, 10 days old
    _feed(svc, 2, _read("BB111BB", now - 10 * DAY), _read("BB222BB", now - 2 * DAY))
    _feed(svc, 3, _read("CC111CC", now - 10 * DAY))
    with db.session() as s:
        old = {r.plate: (r.crop, r.event_id) for r in s.scalars(select(PlateRead))}
        # camera 1 and 2 recorded: camera 2's oldest footage is 5 days old; camera 3 keeps 7 days of video
        s.add_all([Segment(camera_id=c, stream="main", start_ms=start, end_ms=start + 60_000, path=f"{c}.mp4",
                           bytes=1, sha256="0" * 64) for c, start in ((1, T0 - DAY), (2, now - 5 * DAY))])  # fmt: skip
        s.get(Camera, 3).retention_days = 7
    with db.session() as s:
        retention.prune_expired(s, tmp_path, now, 30, 60)
    left = {r.plate for r in _all_reads(db)}
    # 30 plate days: camera 1's 40-day-old read goes; camera 3 (no recording, 7 days of video) loses its 10-day read
    assert left == {"AA222AA", "BB111BB", "BB222BB"}
    for plate in ("AA111AA", "CC111CC"):
        crop, event_id = old[plate]
        assert not (tmp_path / crop).exists(), plate  # the crop went with its row
        assert event_id not in {e.id for e in _events(db, "plate.read")}  # and so did its plate.read event
    assert (tmp_path / old["AA222AA"][0]).exists()
    assert len(_events(db, "plate.read")) == 3

    # Recording retention deleted camera 2's footage before now - 5 days: its reads before that go too.
    with db.session() as s:
        retention.footage_hook(tmp_path)(s, {2: now - 5 * DAY})
    assert {r.plate for r in _all_reads(db)} == {"AA222AA", "BB222BB"}
    assert not (tmp_path / old["BB111BB"][0]).exists()

    # A camera whose footage is all gone: reads up to the end of what was deleted go.
    with db.session() as s:
        s.execute(delete(Segment).where(Segment.camera_id == 2))
    with db.session() as s:
        retention.footage_hook(tmp_path)(s, {2: now})
    assert {r.plate for r in _all_reads(db)} == {"AA222AA"}


def test_a_failed_prune_keeps_crops(db: Database, tmp_path: Path) -> None:
    """Files go only once the deletion has committed: a rolled back prune leaves row and crop."""
    _feed(_service(db, tmp_path), 1, _read("AA111AA", T0))
    crop = _all_reads(db)[0].crop
    with pytest.raises(RuntimeError), db.session() as s:
        retention.prune_expired(s, tmp_path, T0 + 40 * DAY, 30, 60)
        raise RuntimeError("the transaction fails after the prune")
    assert len(_all_reads(db)) == 1 and (tmp_path / crop).exists()


def _all_reads(db: Database) -> list[PlateRead]:
    with db.session() as s:
        return list(s.scalars(select(PlateRead)))


def test_recording_retention_and_housekeeping_as_runtime_wires_them(db: Database, tmp_path: Path) -> None:
    """``runtime.footage_prune`` on a real ``Retention`` pass: camera 1's old footage goes and so do its
    plate reads before the oldest remaining recording, with their crops and events; ``analytics_prune``
    (the hourly housekeeping) then drops reads past ``plate_retention_days``."""
    from ronda.config import StorageConfig
    from ronda.recording.retention import Retention
    from ronda.runtime import analytics_prune, footage_prune

    now = int(time.time() * 1000)  # the housekeeping reads the clock
    old_start, kept_start = now - 3 * DAY, now - 2 * DAY
    with db.session() as s:
        for cam in (1, 2):
            for start in (old_start, kept_start):
                s.add(Segment(camera_id=cam, stream="main", start_ms=start, end_ms=start + 4000, bytes=10,
                              path=f"{cam}/{start}.mp4", sha256="0" * 64))  # fmt: skip
        s.get(Camera, 1).retention_days = 2.5
    svc = _service(db, tmp_path)
    for cam in (1, 2):
        _feed(svc, cam, _read(f"AA{cam}00AA", old_start + 1000), _read(f"BB{cam}00BB", kept_start + 1000, 8))
    crops = {r.plate: r.crop for r in _all_reads(db)}
    (tmp_path / "rec").mkdir()
    retention = Retention(db, tmp_path / "rec", StorageConfig(delete_below_free_percent=0))
    retention.on_deleted = footage_prune(tmp_path)
    assert retention.run(now).deleted == 1  # camera 1's older segment
    assert {r.plate for r in _all_reads(db)} == {"BB100BB", "AA200AA", "BB200BB"}
    assert not (tmp_path / crops["AA100AA"]).exists() and (tmp_path / crops["AA200AA"]).exists()
    assert len(_events(db, "plate.read")) == 3

    analytics_prune(db, 30, tmp_path, plate_retention_days=1)()  # every read left is 2 days old
    assert {r.plate for r in _all_reads(db)} == set()
    assert not any((tmp_path / c).exists() for c in crops.values())
