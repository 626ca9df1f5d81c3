"""Migration 0016 on a site's real SQLite database: every table whose ids the database generates is
rebuilt with AUTOINCREMENT, keeping every row, id, index, foreign key and trigger and the audit chain,
and an id freed before the upgrade that rows still name (a deleted rule its alarms keep) is not given
again after it. Run through the program's own commands (``ronda db upgrade``, ``ronda audit verify``).
On PostgreSQL the revision does nothing, and ids go on as before."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, delete, inspect, select, text

from ronda.access.audit import AuditLog
from ronda.store.db import MIGRATIONS, Database, alembic_config, current_revision, head_revision
from ronda.store.models import Base
from tests.store.rows import ASSIGNED, RowMaker, generated_id_tables

SRC = Path(__file__).resolve().parents[2] / "src"


def _migration() -> Any:
    [path] = (MIGRATIONS / "versions").glob("*_sqlite_autoincrement.py")
    spec = importlib.util.spec_from_file_location("sqlite_autoincrement", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _to(db: Database, revision: str) -> None:
    with db.engine.begin() as c:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = c
        command.upgrade(cfg, revision)


def _ronda(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "ronda.cli", *args], capture_output=True, text=True, timeout=300,
                          env=env, check=False)  # fmt: skip


def _tables(c: Connection) -> list[str]:
    return list(c.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                               "ORDER BY name")))  # fmt: skip


def _columns(c: Connection) -> dict[str, list[str]]:
    return {t: [r[1] for r in c.exec_driver_sql(f'PRAGMA table_info("{t}")')] for t in _tables(c)}


def _rows(c: Connection, columns: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the tables named, in the columns named (later migrations add tables and columns)."""
    out = {}
    for t, cols in columns.items():
        if t != "alembic_version":
            names = ", ".join(f'"{n}"' for n in cols)
            out[t] = sorted(map(tuple, c.execute(text(f'SELECT {names} FROM "{t}"')).all()), key=repr)
    return out


def _as_before(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """``after`` (a ``_schema``) cut to what ``before`` had: later migrations add tables, columns (at the
    end: the positions of the others stay) and indexes."""
    out: dict[str, Any] = {}
    index_names = {r[0] for r in before["index sql"]}
    for t, b in before.items():
        if t in ("index sql", "triggers"):
            continue
        a = after[t]
        names = {r[1] for r in b["columns"]}
        kept = {r[0] if isinstance(r[0], str) else None for r in b["indexes"]}
        out[t] = {
            "columns": [r for r in a["columns"] if r[1] in names],
            "indexes": [r for r in a["indexes"] if r[0] in kept or not isinstance(r[0], str)],
            "foreign_keys": a["foreign_keys"],
        }
    out["index sql"] = [r for r in after["index sql"] if r[0] in index_names]
    out["triggers"] = after["triggers"]
    return out


def _schema(c: Connection) -> dict[str, Any]:
    """Everything about each table except how it hands out ids: columns, indexes (with their columns and
    uniqueness, the automatic ones of unique constraints included), foreign keys, and the triggers."""
    out: dict[str, Any] = {}
    for t in _tables(c):
        indexes = []
        for _seq, name, unique, origin, partial in c.exec_driver_sql(f'PRAGMA index_list("{t}")').all():
            cols = [r[2] for r in c.exec_driver_sql(f'PRAGMA index_info("{name}")').all()]
            # automatic indexes are renamed with the table (sqlite_autoindex_<table>_N): keep their content
            indexes.append((name if origin == "c" else origin, unique, partial, cols))
        out[t] = {
            "columns": c.exec_driver_sql(f'PRAGMA table_info("{t}")').all(),
            "indexes": sorted(indexes, key=repr),
            # (id, seq, table, from, to, on update, on delete, match): the id is only the key's position
            "foreign_keys": sorted(tuple(r[1:]) for r in c.exec_driver_sql(f'PRAGMA foreign_key_list("{t}")')),
        }
    out["index sql"] = c.execute(text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' "
                                      "AND sql IS NOT NULL ORDER BY name")).all()  # fmt: skip
    out["triggers"] = c.execute(text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' "
                                     "ORDER BY name")).all()  # fmt: skip
    return out


TRIGGERS = (
    # what a site might have added: an append-only audit log, and a rule on a table the upgrade rebuilds
    "CREATE TRIGGER audit_append_only BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'append-only'); END",
    "CREATE TRIGGER events_keep_type BEFORE UPDATE OF type ON events BEGIN SELECT RAISE(ABORT, 'no retyping'); END",
)


M = _migration()
BEFORE, AFTER = M.down_revision, M.revision  # "0015", "0016" (the numbers may move at a merge)


def test_upgrade_rebuilds_with_autoincrement_and_keeps_everything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = Database(f"sqlite:///{data / 'ronda.db'}")
    _to(db, BEFORE)
    with db.engine.begin() as c:  # one table in another form than the migrations write: Alembic rebuilds it
        create = c.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'gaps'"))
        index = c.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'ix_gaps_cam_stream_start'"))
        assert "(\n\tid INTEGER NOT NULL," in create and ", \n\tPRIMARY KEY (id)" in create
        c.exec_driver_sql("DROP TABLE gaps")
        c.exec_driver_sql(create.replace("(\n\tid INTEGER NOT NULL,", "(\n\tid INTEGER PRIMARY KEY NOT NULL,")
                          .replace(", \n\tPRIMARY KEY (id)", ""))  # fmt: skip
        c.exec_driver_sql(index)
    with db.engine.connect() as c:
        present = set(inspect(c).get_table_names())
    fill = [t.name for t in Base.metadata.sorted_tables if t.name not in ASSIGNED and t.name in present]
    with db.engine.begin() as c:
        for _ in range(3):  # a new maker each round: new parents, so composite keys stay unique
            rows = RowMaker(c)
            for table in fill:
                rows.add(table)
        rows = RowMaker(c)
        gone_rule, gone_patrol = rows.add("rules"), rows.add("ptz_patrols")
        gone_event = rows.add("events")
        case = rows.add("cases")
        rows.add("case_links", case_id=case, kind="event", ref_id=gone_event)
        rows.add("ptz_cameras", patrol_id=gone_patrol)
    audit = AuditLog.open(db, data / "keys")
    for i in range(4):
        audit.append("admin", "camera.update", "ok", camera_id=i + 1, details={"i": i})
    audit.append("admin", "rule.delete", "ok", details={"rule": gone_rule, "name": "x"})
    audit.close()
    with db.engine.begin() as c:
        # The newest rule, patrol and event go. Only the audit log still names the rule (deleting a rule
        # detaches its alarms), a dome the patrol, a case link the event.
        c.execute(text("DELETE FROM rules WHERE id = :i"), {"i": gone_rule})
        c.execute(text("DELETE FROM ptz_patrols WHERE id = :i"), {"i": gone_patrol})
        c.execute(text("DELETE FROM events WHERE id = :i"), {"i": gone_event})
        for sql in TRIGGERS:
            c.exec_driver_sql(sql)
    with db.engine.connect() as c:
        assert c.scalar(text("SELECT max(id) FROM rules")) < gone_rule
        before_columns = _columns(c)
        before_rows, before_schema = _rows(c, before_columns), _schema(c)
        before_max = {t: c.scalar(text(f'SELECT max(id) FROM "{t}"')) for t in generated_id_tables() if t in present}
    db.dispose()

    r = _ronda("db", "upgrade", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    assert head_revision() in r.stdout

    db = Database(f"sqlite:///{data / 'ronda.db'}")
    try:
        assert current_revision(db.engine) == head_revision()
        with db.engine.connect() as c:
            after_rows = _rows(c, before_columns)
            # the one row a later migration adds: 0023's catalog counter
            assert (2, 0) in after_rows["rights_version"]
            after_rows["rights_version"] = [r for r in after_rows["rights_version"] if r[0] != 2]
            assert after_rows == before_rows
            assert _as_before(_schema(c), before_schema) == before_schema
            assert c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert c.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            generated = set(generated_id_tables())
            assert set(M.TABLES) <= generated
            for t in _tables(c):  # the rebuilt ones, and any created later with AUTOINCREMENT
                sql = c.scalar(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": t})
                assert ("AUTOINCREMENT" in sql) == (t in generated), t
            assert not [t for t in _tables(c) if t.startswith("_alembic_tmp")]
        r = _ronda("audit", "verify", "--data-dir", str(data))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "intact: 5 entries" in r.stdout
        with pytest.raises(Exception, match="append-only"), db.engine.begin() as c:
            c.execute(text("DELETE FROM audit_log"))
        with pytest.raises(Exception, match="no retyping"), db.engine.begin() as c:
            c.execute(text("UPDATE events SET type = 'x'"))
        with db.engine.begin() as c:
            rows = RowMaker(c)
            assert rows.add("rules") > gone_rule  # not the id the audit log names
            assert rows.add("ptz_patrols") > gone_patrol  # a dome would start running the new patrol
            assert rows.add("events") > gone_event
            for t in generated_id_tables():
                new = rows.add(t)
                assert new > (before_max.get(t) or 0), t
        with db.session() as s:  # the ORM sees the same schema
            from ronda.store.event_models import Rule

            assert s.scalars(select(Rule.id).order_by(Rule.id.desc())).first() is not None
    finally:
        db.dispose()


def test_the_revision_refuses_to_run_with_foreign_keys_on(tmp_path: Path) -> None:
    """Dropping a table with SQLite foreign keys on would delete (cascade) or block the rows that refer to
    it: the revision stops instead, before changing anything."""
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")  # the program's engine turns foreign keys on
    try:
        _to(db, BEFORE)
        with db.engine.begin() as c:
            RowMaker(c).add("camera_streams")
        with pytest.raises(RuntimeError, match="ronda db upgrade"):
            _to(db, AFTER)
        assert current_revision(db.engine) == BEFORE
        with db.engine.connect() as c:
            assert c.scalar(text("SELECT count(*) FROM camera_streams")) == 1
        db.upgrade()
        assert current_revision(db.engine) == head_revision()
    finally:
        db.dispose()


def test_upgrade_keeps_rows_and_ids_go_on(db: Database) -> None:
    """On both backends (tests/store/conftest.py): on PostgreSQL the revision changes nothing."""
    from ronda.store.event_models import Rule

    _to(db, BEFORE)
    with db.engine.begin() as c:
        rows = RowMaker(c)
        made = [rows.add("rules") for _ in range(3)]
        rows.add("alarms", rule_id=made[-1])
        c.execute(delete(Base.metadata.tables["rules"]).where(Base.metadata.tables["rules"].c.id == made[-1]))
    db.upgrade()
    db.check()
    with db.session() as s:
        assert sorted(s.scalars(select(Rule.id))) == made[:2]
    with db.engine.begin() as c:
        assert RowMaker(c).add("rules") > made[-1]
