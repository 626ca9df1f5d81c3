"""The positions table on SQLite and on a real PostgreSQL 15: migration 0008 moves the old JSON value
into rows and back, and two app instances (two engines, as two processes have) editing at the same
time lose nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, insert, inspect, text

from ronda.access.audit import AuditLog
from ronda.map import repository
from ronda.map.errors import CameraUnknown, NotPlaced, PlanRequired, WrongPositionKind
from ronda.map.service import SiteMap
from ronda.map.validators import CheckedPlan, Position
from ronda.store import repos
from ronda.store.db import Database, alembic_config
from ronda.store.models import Camera, SystemState

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
BEFORE = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision("0008").down_revision
assert isinstance(BEFORE, str)


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'r.db'}"
    pg = request.getfixturevalue("pg_url")
    d = Database(pg)
    with d.engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    d.dispose()
    return pg


def _migrate(db: Database, revision: str, down: bool = False) -> None:
    with db.engine.begin() as c:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = c
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _cameras(db: Database, n: int) -> list[int]:
    with db.session() as s:
        cams = [Camera(name=f"C{i}", created_ms=1, status="starting") for i in range(n)]
        s.add_all(cams)
        s.flush()
        return [c.id for c in cams]


def _old_cameras(db: Database, n: int) -> list[int]:
    """Cameras in the table as it is at an older revision (the ORM model has later migrations' columns)."""
    cameras = Table("cameras", MetaData(), autoload_with=db.engine)
    given = {"created_ms": 1, "status": "starting"}
    # Every other NOT NULL column without a server default gets its model's default.
    for col in cameras.columns:
        model = Camera.__table__.columns.get(col.name)
        if col.name not in {*given, "name"} and not col.nullable and col.server_default is None and not col.primary_key:
            default = model.default.arg if model is not None and model.default is not None else None
            given[col.name] = default() if callable(default) else default
    row = given
    with db.engine.begin() as c:
        return [c.execute(insert(cameras).values(name=f"C{i}", **row)).inserted_primary_key[0] for i in range(n)]


def test_migration_moves_the_json_value_into_rows_and_back(url):
    db = Database(url)
    try:
        _migrate(db, BEFORE)
        c1, c2, c3 = _old_cameras(db, 3)
        old = {
            str(c1): {"x": 0.25, "y": 0.75},
            str(c2): {"x": 1.0, "y": 0.0, "lat": 45.465, "lon": 9.19},  # placed on both kinds of plan
            "999999": {"x": 0.5, "y": 0.5},  # no such camera: the API never listed it
        }
        with db.session() as s:
            repos.put_state(s, "map.positions", old)
            repos.put_state(s, "map.plan", {"kind": "png", "file": "plan-x.png", "sha256": "0" * 64, "bytes": 1,
                                            "updated_ms": 5, "by": "admin", "width": 8, "height": 8})  # fmt: skip
        _migrate(db, "0008")
        assert "map_positions" in inspect(db.engine).get_table_names()
        with db.session() as s:
            assert repos.get_state(s, "map.positions") is None
            rows = {r.camera_id: (r.x, r.y, r.lat, r.lon)
                    for r in s.execute(text("SELECT camera_id, x, y, lat, lon FROM map_positions"))}  # fmt: skip
            assert rows == {c1: (0.25, 0.75, None, None), c2: (1.0, 0.0, 45.465, 9.19)}
            plan = repository.get_plan(s)
            assert plan is not None and (plan.kind, plan.width, plan.by) == ("png", 8, "admin")  # read as before
            s.execute(text("INSERT INTO map_positions (camera_id, lat, lon, updated_ms) VALUES (:c, -33.5, 151.0, 7)"),
                      {"c": c3})  # fmt: skip
        _migrate(db, BEFORE, down=True)
        assert "map_positions" not in inspect(db.engine).get_table_names()
        with db.session() as s:
            back = repos.get_state(s, "map.positions")
        del old["999999"]
        assert back == {**old, str(c3): {"lat": -33.5, "lon": 151.0}}
        _migrate(db, "0008")  # and up again: nothing lost on the round trip
        with db.session() as s:
            count = s.execute(text("SELECT count(*) FROM map_positions")).scalar()
            assert count == 3
    finally:
        db.dispose()


def test_migration_0012_adds_the_view_and_keeps_the_positions(url):
    db = Database(url)
    try:
        _migrate(db, "0011")
        (c1,) = _old_cameras(db, 1)
        with db.session() as s:
            s.execute(text("INSERT INTO map_positions (camera_id, x, y, lat, lon, updated_ms) "
                           "VALUES (:c, 0.1, 0.2, 45.5, 9.5, 3)"), {"c": c1})  # fmt: skip
        _migrate(db, "0012")
        with db.session() as s:
            assert repository.positions(s) == {c1: Position(x=0.1, y=0.2, lat=45.5, lon=9.5)}
            repository.upsert_position(s, c1, Position(lat=45.6, lon=9.6, direction=270, fov=45, range_m=80), 4)
            assert repository.positions(s)[c1] == Position(0.1, 0.2, 45.6, 9.6, 270, 45, 80)
        _migrate(db, "0011", down=True)
        assert "direction" not in {c["name"] for c in inspect(db.engine).get_columns("map_positions")}
        with db.session() as s:
            assert s.execute(text("SELECT lat FROM map_positions")).scalar() == 45.6
    finally:
        db.dispose()


def test_migration_without_positions(url):
    db = Database(url)
    try:
        _migrate(db, BEFORE)
        _migrate(db, "0008")
        _migrate(db, BEFORE, down=True)
        with db.session() as s:
            assert s.get(SystemState, "map.positions") is None
    finally:
        db.dispose()


def _site(url: str, data: Path) -> SiteMap:
    db = Database(url)
    return SiteMap(db, AuditLog.open(db, data / "keys"), data)


@pytest.fixture
def two(url, tmp_path):
    first = Database(url)
    first.upgrade()
    ids = _cameras(first, 16)
    first.dispose()
    sites = (_site(url, tmp_path), _site(url, tmp_path))
    png = (Path(__file__).parent / "fixtures" / "plan.png").read_bytes()
    sites[0].replace_plan(CheckedPlan("png", png, width=8, height=8), "admin", None)
    yield sites, ids
    for site in sites:
        site.audit.close()
        site.db.dispose()


def test_two_instances_editing_different_cameras_at_once_lose_nothing(two):
    (a, b), ids = two
    rounds = 15
    start = threading.Barrier(len(ids))
    errors: list[BaseException] = []

    def edit(index: int) -> None:
        site = a if index % 2 else b
        start.wait()
        try:
            for n in range(rounds):
                site.place(ids[index], Position(x=index / len(ids), y=n / rounds), f"u{index}", None)
        except BaseException as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(len(ids))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for site in (a, b):
        assert site.view(lambda ids: set()).cameras == []  # the caller's scope applies
        placed = {c.id: c.position for c in site.view(set).cameras}
        want = {cid: Position(x=i / len(ids), y=(rounds - 1) / rounds) for i, cid in enumerate(ids)}
        assert placed == want


def test_same_camera_from_two_instances_ends_in_one_edit(two):
    (a, b), ids = two
    cid = ids[0]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def edit(site: SiteMap, x: float) -> None:
        start.wait()
        try:
            for _ in range(20):
                site.place(cid, Position(x=x, y=x), "u", None)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=edit, args=(s, x)) for s, x in ((a, 0.1), (b, 0.9))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with a.db.session() as s:
        assert repository.positions(s)[cid] in (Position(x=0.1, y=0.1), Position(x=0.9, y=0.9))


def test_place_keeps_the_other_pair_and_refuses_what_it_must(two):
    (a, b), ids = two
    cid = ids[1]
    assert a.place(cid, Position(x=0.5, y=0.25), "admin", None) == Position(x=0.5, y=0.25)
    # lat/lon (the geographic map) are taken whatever the plan; the view is kept until given again
    assert a.place(cid, Position(lat=1, lon=2, direction=90, fov=60, range_m=40), "admin", None) == Position(
        x=0.5, y=0.25, lat=1, lon=2, direction=90, fov=60, range_m=40
    )
    assert a.place(cid, Position(lat=1, lon=3, direction=180), "admin", None).fov == 60
    with pytest.raises(CameraUnknown):
        a.place(2**31 - 1, Position(x=0.5, y=0.5), "admin", None)
    geo = CheckedPlan("geojson", b'{"type":"FeatureCollection","features":[]}', bounds=(0, 0, 1, 1), features=0)
    b.replace_plan(geo, "admin", None)
    assert a.place(cid, Position(lat=1, lon=2), "admin", None) == Position(
        x=0.5, y=0.25, lat=1, lon=2, direction=180, fov=60, range_m=40
    )
    with pytest.raises(WrongPositionKind, match="GeoJSON"):
        a.place(cid, Position(x=0.5, y=0.5), "admin", None)
    a.take_off(cid, "admin", None)
    with pytest.raises(NotPlaced):
        b.take_off(cid, "admin", None)
    b.remove_plan("admin", None)
    assert list(a.folder.iterdir()) == []  # the plan files went with the plan
    with pytest.raises(PlanRequired):
        a.place(cid, Position(x=0.5, y=0.5), "admin", None)
    assert a.place(cid, Position(lat=3, lon=4), "admin", None).lat == 3  # no plan: the geographic map
    actions = [e.action for e in a.audit.search(actor="admin")]
    assert {"map.plan_upload", "map.position", "map.position_delete", "map.plan_delete"} <= set(actions)
