"""Upgrading a SQLite database that has data keeps every row.

SQLite cannot add some columns in place, so a migration may rebuild a table (copy, drop, rename). With
foreign keys on, dropping ``cameras`` either failed (a segment refers to the camera: the upgrade stopped
with "FOREIGN KEY constraint failed") or, with no segment yet, cascaded and deleted the cameras' streams,
map positions and group memberships. Shown with the upgrade the program runs (``Database.upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from ronda.store.db import Database, alembic_config, head_revision

TABLES = ("cameras", "camera_streams", "map_positions", "segments", "gaps", "camera_group_members")


def _at(db: Database, revision: str) -> None:
    with db.engine.begin() as c:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = c
        command.upgrade(cfg, revision)


def _counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as c:
        return {t: int(c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}


def _fill(db: Database, with_segments: bool) -> None:
    with db.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO cameras (id, name, enabled, audio, status, created_ms) "
                "VALUES (1, 'Piazza', true, false, 'recording', 1), (2, 'Porta', true, false, 'recording', 1)"
            )
        )
        c.execute(
            text(
                "INSERT INTO camera_streams (camera_id, kind, url, record) "
                "VALUES (1, 'main', 'rtsp://h/1', true), (2, 'main', 'rtsp://h/2', true)"
            )
        )
        c.execute(text("INSERT INTO map_positions (camera_id, x, y, updated_ms) VALUES (1, 0.5, 0.5, 1)"))
        c.execute(text("INSERT INTO camera_groups (id, name) VALUES (1, 'Centro')"))
        c.execute(text("INSERT INTO camera_group_members (group_id, camera_id) VALUES (1, 1), (1, 2)"))
        c.execute(
            text(
                "INSERT INTO gaps (camera_id, stream, start_ms, end_ms, reason) "
                "VALUES (1, 'main', 10, 20, 'camera_unreachable')"
            )
        )
        if with_segments:
            c.execute(text("INSERT INTO segments (camera_id, stream, path, start_ms, end_ms, bytes, sha256, recovered) "
                           "VALUES (1, 'main', '1/main/a.mp4', 1, 4001, 10, 'ab', false)"))  # fmt: skip


def test_upgrade_from_0008_keeps_every_row(tmp_path: Path) -> None:
    for with_segments in (False, True):
        db = Database(f"sqlite:///{tmp_path}/ronda-{with_segments}.db")
        try:
            _at(db, "0008")
            _fill(db, with_segments)
            before = _counts(db)
            db.upgrade()
            assert _counts(db) == before, (with_segments, before)
            with db.engine.connect() as c:
                assert c.execute(text("PRAGMA foreign_key_check")).all() == []
                assert c.execute(text("PRAGMA foreign_keys")).scalar_one() == 1  # on again for the program
            db.check()  # at head
        finally:
            db.dispose()
    assert head_revision() > "0008"
