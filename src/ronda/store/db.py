"""Engine, sessions and schema checks (SQLite in WAL mode by default, PostgreSQL at scale)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from ronda.store import rights_version

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaMismatch(Exception):
    """The database schema is not the one this version of Ronda expects."""


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # WAL lets the API, the recorder and CLI exports read while the recorder writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str, engine: Engine | None = None) -> None:
    cfg = alembic_config(url)
    if engine is None:
        engine = make_engine(url)
        try:
            upgrade(url, engine)
        finally:
            engine.dispose()
        return
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return
    # SQLite adds some columns by rebuilding the table (copy, drop, rename). With foreign keys on, the drop
    # fails when other rows refer to the table, or cascades and deletes them. So: keys off for the
    # upgrade (the pragma only works outside a transaction), every key checked before the commit, on again.
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the upgrade would leave rows pointing at nothing: {broken[:5]}")
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


def check_schema(engine: Engine) -> None:
    cur, head = current_revision(engine), head_revision()
    if cur is None:
        raise SchemaMismatch("the database has no Ronda schema yet; run `ronda db upgrade` first")
    if cur != head:
        raise SchemaMismatch(
            f"the database schema is at revision {cur} but this Ronda needs {head}; "
            "back up the data directory and run `ronda db upgrade`"
        )


def _added_key(model: type) -> str:
    return f"ronda.added.{model.__name__}"


def mark_added(session: Session, model: type) -> None:
    """Tell ``on_commit_adding`` hooks that ``session`` stored ``model`` rows (a Core insert, which
    the ORM's flush does not see)."""
    session.info[_added_key(model)] = True


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        rights_version.install(self._sessions)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    def on_commit_adding(self, model: type, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (in the committing thread) after each commit of a session that added
        ``model`` objects through the ORM or said so with ``mark_added``. Returns a function that
        removes the hook."""
        key = _added_key(model)

        def before_flush(session: Session, _ctx: object, _instances: object) -> None:
            if any(isinstance(o, model) for o in session.new):
                session.info[key] = True

        def after_commit(session: Session) -> None:
            if session.info.pop(key, False):
                callback()

        def after_rollback(session: Session) -> None:
            session.info.pop(key, None)

        hooks = (("before_flush", before_flush), ("after_commit", after_commit), ("after_rollback", after_rollback))
        for name, fn in hooks:
            event.listen(self._sessions, name, fn)

        def remove() -> None:
            for name, fn in hooks:
                event.remove(self._sessions, name, fn)

        return remove

    def upgrade(self) -> None:
        upgrade(self.url, self.engine)

    def check(self) -> None:
        check_schema(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
