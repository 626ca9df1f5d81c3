"""Migration 0013: the analytics tables arrive next to existing data, go away on downgrade, and follow
their camera when it is deleted. On SQLite and on a real PostgreSQL server (tests/store/conftest.py)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import delete, inspect, text

from ronda.analytics import repository as repo
from ronda.analytics.model import MotionSecond, TrackedObject, pack_cells
from ronda.store.db import Database, alembic_config
from ronda.store.models import Camera

TABLES = {"analytics_settings", "motion_minutes", "analytics_objects"}


def _to(db: Database, revision: str, down: bool = False) -> None:
    with db.engine.begin() as c:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = c
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_analytics_tables_come_and_go_and_follow_their_camera(db):
    _to(db, "0012")
    with db.engine.begin() as c:
        c.execute(text("INSERT INTO cameras (id, name, enabled, audio, status, created_ms) "
                       "VALUES (1, 'Piazza', true, false, 'on', 1), (2, 'Porta', true, false, 'on', 1)"))  # fmt: skip
    assert not TABLES & _tables(db)
    db.upgrade()
    db.check()
    assert TABLES <= _tables(db)
    idx = {i["name"] for i in inspect(db.engine).get_indexes("analytics_objects")}
    assert {"ix_analytics_objects_cam_time", "ix_analytics_objects_class_time"} <= idx

    with db.session() as s:
        repo.put_settings(s, 1, {"zones": [{"name": "door", "kind": "include",
                                             "points": [[0, 0], [0.5, 0], [0.5, 0.5]]}]}, "admin", 5)  # fmt: skip
        repo.add_motion(s, [MotionSecond(1, 600, pack_cells({(1, 1)}), 10),
                            MotionSecond(2, 600, pack_cells({(2, 2)}), 7)])  # fmt: skip
        repo.add_object(s, 1, TrackedObject(3, "car", 0.8, (0.1, 0.1, 0.2, 0.2), 600_000, 601_000))
    with db.session() as s:
        s.execute(delete(Camera).where(Camera.id == 1))
    with db.engine.connect() as c:
        for table in TABLES:
            assert c.execute(text(f"SELECT count(*) FROM {table} WHERE camera_id = 1")).scalar_one() == 0, table
        assert c.execute(text("SELECT count(*) FROM motion_minutes WHERE camera_id = 2")).scalar_one() == 1

    _to(db, "0012", down=True)
    assert not TABLES & _tables(db)
    with db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM cameras")).scalar_one() == 1
    db.upgrade()
    db.check()
