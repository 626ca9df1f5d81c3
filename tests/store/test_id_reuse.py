"""A generated id is never handed out twice, on SQLite and on a real PostgreSQL server.

SQLite gives an ``INTEGER PRIMARY KEY`` without ``AUTOINCREMENT`` the highest id in the table plus one,
so deleting the newest row freed its id for the next insert: a rule deleted and a new one created got
the old id, and the alarms still naming the old rule looked like the new rule's. The same held for
every table whose ids other rows, the audit log or clients (URLs, playlists, push payloads) keep.
PostgreSQL sequences never go back; the test holds both to the same promise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Table, delete, func, select, text

from ronda.store.db import Database
from ronda.store.models import Base
from tests.pg import BACKENDS
from tests.store.rows import RowMaker, generated_id_tables

TABLES = generated_id_tables()


def test_the_survey_found_the_tables_clients_and_rows_refer_to() -> None:
    # Not a fixed list on purpose: a new table with a generated id joins TABLES (and the tests below)
    # by itself. These are the ones the bug was met on, or whose ids leave the database.
    for name in ("rules", "alarms", "events", "cases", "users", "cameras", "segments", "api_keys",
                 "plate_lists", "ptz_patrols", "time_profiles", "bookmarks", "evidence_locks"):  # fmt: skip
        assert name in TABLES, name
    for name in ("audit_log", "audit_checkpoints", "sessions", "export_jobs", "map_positions", "case_links"):
        assert name not in TABLES, name


def test_every_generated_id_table_asks_sqlite_for_autoincrement() -> None:
    missing = [t for t in TABLES if not Base.metadata.tables[t].dialect_options["sqlite"]["autoincrement"]]
    assert missing == []


@pytest.fixture(scope="module", params=BACKENDS)
def migrated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    tmp: Path = tmp_path_factory.mktemp("ids")
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp / 'r.db'}")
    else:
        db = Database(request.getfixturevalue("pg_url"))
        with db.engine.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.upgrade()  # the schema a site really has: built by the migrations, not by create_all
    db.check()
    yield db
    db.dispose()


def _ids(db: Database, t: Table) -> list[int]:
    pk = next(iter(t.primary_key.columns))
    with db.engine.connect() as c:
        return list(c.scalars(select(pk)))


@pytest.mark.parametrize("table", TABLES)
def test_a_deleted_newest_id_is_not_given_again(migrated: Database, table: str) -> None:
    t = Base.metadata.tables[table]
    pk = next(iter(t.primary_key.columns))
    with migrated.engine.begin() as c:
        rows = RowMaker(c)
        made = [rows.add(table) for _ in range(3)]
    ever = set(_ids(migrated, t)) | set(made)
    newest = max(made)
    assert newest == max(ever)
    with migrated.engine.begin() as c:
        c.execute(delete(t).where(pk == newest))
    with migrated.engine.begin() as c:
        again = RowMaker(c).add(table)
    assert again > max(ever), f"{table}: id {again} given again (ids ever given up to {max(ever)})"


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    from tests.pg import empty_database

    db = empty_database(request, tmp_path)
    db.upgrade()
    yield db
    db.dispose()


@pytest.mark.parametrize("table", ["events", "rules", "plate_reads"])
def test_an_emptied_table_does_not_start_again_at_one(fresh: Database, table: str) -> None:
    """Retention can empty a table (no events for longer than they are kept): the ids go on."""
    t = Base.metadata.tables[table]
    with fresh.engine.begin() as c:
        rows = RowMaker(c)
        made = [rows.add(table) for _ in range(4)]
    with fresh.engine.begin() as c:
        c.execute(delete(t))
        assert c.scalar(select(func.count()).select_from(t)) == 0
    with fresh.engine.begin() as c:
        again = RowMaker(c).add(table)
    assert again > max(made), f"{table}: emptied, then id {again} given again"
