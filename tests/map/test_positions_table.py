"""The positions table on SQLite and on a real PostgreSQL 15: migration 0008 moves the old JSON value
into rows and back, and two app instances (two engines, as two processes have) editing at the same
time lose nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from ronda.access.audit import AuditLog
from ronda.map import repository
from ronda.map.errors import CameraUnknown, NotPlaced, PlanRequired, WrongPositionKind
from ronda.map.service import SiteMap
from ronda.map.validators import CheckedPlan, Position
from ronda.store import repos
from ronda.store.db import Database, alembic_config
from ronda.store.map_models import MapPosition
from ronda.store.models import SystemState

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
    """Cameras as the schema of the revision under test has them (plain SQL: the ORM model has the
    columns of later revisions)."""
    with db.engine.begin() as c:
        for i in range(n):
            c.execute(text("INSERT INTO cameras (name, enabled, audio, status, created_ms) "
                           "VALUES (:name, true, false, 'starting', 1)"), {"name": f"C{i}"})  # fmt: skip
        return [int(r[0]) for r in c.execute(text("SELECT id FROM cameras ORDER BY id"))][-n:]


def test_migration_moves_the_json_value_into_rows_and_back(url):
    db = Database(url)
    try:
        _migrate(db, BEFORE)
        c1, c2, c3 = _cameras(db, 3)
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
            rows = {r.camera_id: (r.x, r.y, r.lat, r.lon) for r in s.scalars(select(MapPosition))}
            assert rows == {c1: (0.25, 0.75, None, None), c2: (1.0, 0.0, 45.465, 9.19)}
            plan = repository.get_plan(s)
            assert plan is not None and (plan.kind, plan.width, plan.by) == ("png", 8, "admin")  # read as before
            repository.upsert_position(s, c3, Position(lat=-33.5, lon=151.0), 7)
        _migrate(db, BEFORE, down=True)
        assert "map_positions" not in inspect(db.engine).get_table_names()
        with db.session() as s:
            back = repos.get_state(s, "map.positions")
        del old["999999"]
        assert back == {**old, str(c3): {"lat": -33.5, "lon": 151.0}}
        _migrate(db, "0008")  # and up again: nothing lost on the round trip
        with db.session() as s:
            assert len(repository.positions(s)) == 3
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
    with pytest.raises(WrongPositionKind, match="image"):
        a.place(cid, Position(lat=1, lon=2), "admin", None)
    with pytest.raises(CameraUnknown):
        a.place(2**31 - 1, Position(x=0.5, y=0.5), "admin", None)
    geo = CheckedPlan("geojson", b'{"type":"FeatureCollection","features":[]}', bounds=(0, 0, 1, 1), features=0)
    b.replace_plan(geo, "admin", None)
    assert a.place(cid, Position(lat=1, lon=2), "admin", None) == Position(x=0.5, y=0.25, lat=1, lon=2)
    a.take_off(cid, "admin", None)
    with pytest.raises(NotPlaced):
        b.take_off(cid, "admin", None)
    b.remove_plan("admin", None)
    assert list(a.folder.iterdir()) == []  # the plan files went with the plan
    with pytest.raises(PlanRequired):
        a.place(cid, Position(x=0.5, y=0.5), "admin", None)
    actions = [e.action for e in a.audit.search(actor="admin")]
    assert {"map.plan_upload", "map.position", "map.position_delete", "map.plan_delete"} <= set(actions)
