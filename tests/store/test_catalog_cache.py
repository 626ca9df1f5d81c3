"""The camera list's per-process cache (store/catalog_cache.py) and the catalog counter that invalidates it.

Whatever the camera list shows (a camera's columns, its streams, groups, members, shares, organisation
names) moves ``rights_version`` row 2 in the changing transaction, through the ORM or a bulk statement.
The HTTP test changes cameras from *another process* (this test process writing to the site's database)
and checks that the very next list of a signed-in user shows it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update

from ronda.store import repos, rights_version
from ronda.store.access_models import CameraGroup, CameraGroupMember, CameraShare, Organisation, RightsVersion
from ronda.store.catalog_cache import CatalogCache
from ronda.store.db import Database
from ronda.store.models import Camera, CameraStream, Event
from ronda.timeutil import now_ms


@pytest.fixture
def db(tmp_path: Path):
    d = Database(f"sqlite:///{tmp_path / 'r.db'}")
    d.upgrade()
    yield d
    d.dispose()


def catalog_version(db: Database) -> int:
    with db.session() as s:
        return rights_version.catalog(s)


def bumps(db: Database, change) -> bool:  # type: ignore[no-untyped-def]
    before = catalog_version(db)
    with db.session() as s:
        change(s)
    return catalog_version(db) > before


def test_every_catalog_change_moves_the_counter_and_nothing_else_does(db):
    t = now_ms()
    assert catalog_version(db) == 0  # migration 0023 made the row
    ids: dict[str, int] = {}

    def add(s):  # type: ignore[no-untyped-def]
        org = Organisation(name="Comune")
        cam = Camera(name="c", created_ms=t)
        s.add_all([org, cam])
        s.flush()
        group = CameraGroup(organisation_id=org.id, name="Piazza")
        s.add(group)
        s.flush()
        ids.update(org=org.id, cam=cam.id, group=group.id)

    steps = [
        ("camera, organisation and group added", add),
        ("camera renamed", lambda s: setattr(s.get(Camera, ids["cam"]), "name", "renamed")),
        ("camera status (ORM)", lambda s: setattr(s.get(Camera, ids["cam"]), "status", "recording")),
        ("camera status (repos, bulk)", lambda s: repos.set_camera_status(s, ids["cam"], "offline", "refused")),
        ("stream added", lambda s: s.add(CameraStream(camera_id=ids["cam"], kind="main", url="rtsp://h/x"))),
        ("stream probed (bulk)", lambda s: s.execute(update(CameraStream).values(codec="h264"))),
        ("member added (bulk insert)",
         lambda s: s.execute(insert(CameraGroupMember).values(group_id=ids["group"], camera_id=ids["cam"]))),
        ("group renamed", lambda s: setattr(s.get(CameraGroup, ids["group"]), "name", "Piazza Grande")),
        ("organisation renamed", lambda s: setattr(s.get(Organisation, ids["org"]), "name", "Municipio")),
        ("group shared",
         lambda s: s.add(CameraShare(camera_group_id=ids["group"], organisation_id=ids["org"]))),
        ("member removed (bulk)", lambda s: s.execute(delete(CameraGroupMember))),
        ("camera deleted (soft)", lambda s: setattr(s.get(Camera, ids["cam"]), "deleted_ms", t)),
    ]  # fmt: skip
    for what, change in steps:
        assert bumps(db, change), f"{what} did not move the catalog counter"
    quiet = [
        ("an event", lambda s: s.add(Event(type="x", camera_id=None, time_ms=t, payload={}))),
        ("system state", lambda s: repos.put_state(s, "probe", {"x": 1})),
    ]
    for what, change in quiet:
        assert not bumps(db, change), f"{what} moved the catalog counter (the cache would thrash)"


def test_rows_are_read_once_and_again_after_a_change(db):
    with db.session() as s:
        s.add(Camera(name="one", created_ms=now_ms()))
    cache = CatalogCache()
    for _ in range(5):
        with db.session() as s:
            listing, groups = cache.read(s, None)
            assert [c.name for c, _ in listing] == ["one"] and groups == {}
            views = cache.derived(listing, "views", lambda: object())
            assert cache.derived(listing, "views", lambda: object()) is views
    assert cache.loads == 1, "the rows were read again although nothing changed"
    with db.session() as s:  # another process, as far as the cache knows: a plain session on the database
        s.execute(update(Camera).values(name="two"))
    with db.session() as s:
        listing, _ = cache.read(s, None)
    assert [c.name for c, _ in listing] == ["two"] and cache.loads == 2
    assert cache.derived(listing, "views", lambda: "fresh") == "fresh"


def test_without_the_counter_row_nothing_is_cached(db):
    with db.session() as s:
        s.execute(delete(RightsVersion).where(RightsVersion.id == 2))
        s.add(Camera(name="one", created_ms=now_ms()))
    cache = CatalogCache()
    for name in ("one", "two"):
        with db.session() as s:
            s.execute(update(Camera).values(name=name))
        with db.session() as s:
            assert [c.name for c, _ in cache.read(s, None)[0]] == [name]
    assert cache.loads == 0


def test_cameras_changed_elsewhere_show_in_the_next_list(site, users):
    """A signed-in viewer lists the cameras; another process adds, renames, groups and deletes one; each
    next list shows it."""
    admin = users["admin"]
    name = f"cat-{uuid.uuid4().hex[:8]}"

    def listed() -> dict[str, dict]:
        r = admin.req("GET", "/api/v1/cameras")
        assert r.status_code == 200, r.text
        return {c["name"]: c for c in r.json()}

    assert name not in listed()
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            cam = Camera(name=name, enabled=False, created_ms=now_ms())
            s.add(cam)
            s.flush()
            s.add(CameraStream(camera_id=cam.id, kind="main", url="rtsp://192.0.2.1/x"))
            cid = cam.id
            org_id = s.scalar(select(Organisation.id).where(Organisation.name == "Polizia Locale"))
        assert listed()[name]["streams"]["main"]["url"] == "rtsp://192.0.2.1/x"
        with db.session() as s:
            s.execute(update(Camera).where(Camera.id == cid).values(name=name + "-b", retention_days=3))
        got = listed()
        assert name not in got and got[name + "-b"]["retention_days"] == 3
        with db.session() as s:
            g = CameraGroup(organisation_id=org_id, name=f"grp-{name}")
            s.add(g)
            s.flush()
            s.add(CameraGroupMember(group_id=g.id, camera_id=cid))
        assert [x["name"] for x in listed()[name + "-b"]["groups"]] == [f"grp-{name}"]
        with db.session() as s:
            s.execute(update(Camera).where(Camera.id == cid).values(deleted_ms=now_ms()))
        assert name + "-b" not in listed()
    finally:
        db.dispose()
