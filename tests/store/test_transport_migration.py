"""Migration 0011: cameras.transport (existing cameras get "auto") and camera_streams.tcp_refused_ms."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from ronda.store.db import Database, alembic_config


def _to(db: Database, revision: str, down: bool) -> None:
    with db.engine.begin() as c:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = c
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _columns(db: Database, table: str) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns(table)}


def test_existing_cameras_become_auto_and_the_migration_goes_down_and_up(db):
    _to(db, "0008", down=False)
    with db.engine.begin() as c:
        c.execute(text("INSERT INTO cameras (id, name, enabled, audio, status, created_ms) "
                       "VALUES (1, 'old', true, false, 'starting', 1)"))  # fmt: skip
        c.execute(text("INSERT INTO camera_streams (camera_id, kind, url, record) "
                       "VALUES (1, 'main', 'rtsp://h/x', true)"))  # fmt: skip
    _to(db, "0011", down=False)
    with db.engine.connect() as c:
        assert c.execute(text("SELECT transport FROM cameras WHERE id = 1")).scalar() == "auto"
        assert c.execute(text("SELECT tcp_refused_ms FROM camera_streams")).scalar() is None
    _to(db, "0008", down=True)
    assert "transport" not in _columns(db, "cameras")
    assert "tcp_refused_ms" not in _columns(db, "camera_streams")
    db.upgrade()
    db.check()
    assert "transport" in _columns(db, "cameras")
