"""Engine, sessions and schema checks (SQLite in WAL mode by default, PostgreSQL at scale)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from ronda.store import rights_version

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_S = 30.0  # SQLite: how long a write waits for another writer's lock before "database is locked"
log = logging.getLogger(__name__)


class SchemaMismatch(Exception):
    """The database schema is not the one this version of Ronda expects."""


def unreachable(exc: BaseException) -> bool:
    """Whether an error says the database cannot be used now (server down or refusing connections, a
    dropped connection, SQLite's "database is locked" after the busy timeout, no pooled connection in
    time), rather than that the statement itself is wrong. Such an error is an outage: retried later,
    answered 503 by the API."""
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


class Outage:
    """Whether the database is unreachable now, and since when: logged once per outage (not once per
    failed loop turn), shown by health, told as a ``system.database_outage`` event when it ends.

    Any failed session marks it down. Any session that succeeds marks it up on PostgreSQL; on SQLite only a
    *write* that succeeded does (the recorder's heartbeat and catalog writes), since SQLite in WAL mode
    still serves reads while another process holds the write lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.since_ms: int | None = None
        self.detail: str | None = None
        self._ended: tuple[int, int] | None = None

    @property
    def down(self) -> bool:
        return self.since_ms is not None

    def failed(self, exc: BaseException) -> bool:
        """Note an error of a database call; True when it is an outage (logged here, once per outage)."""
        if not unreachable(exc):
            return False
        with self._lock:
            if self.since_ms is not None:
                return True
            self.since_ms = int(time.time() * 1000)
            self.detail = _first_line(exc)
        log.warning("the database is unreachable (%s): recording continues to disk, catalog writes wait for it",
                    self.detail)  # fmt: skip
        return True

    def up(self) -> None:
        """A call went through: an outage under way is over."""
        if self.since_ms is None:  # (the hot path: no lock)
            return
        with self._lock:
            since, self.since_ms, self.detail = self.since_ms, None, None
            if since is None:
                return
            now = int(time.time() * 1000)
            self._ended = (since, now)
        log.warning("the database is reachable again after %.1f s", (now - since) / 1000)

    def take_ended(self) -> tuple[int, int] | None:
        """The last outage that ended (start, end in epoch ms), once: the recorder tells it as an event."""
        with self._lock:
            ended, self._ended = self._ended, None
        return ended


class QuietOutage(logging.Filter):
    """Drops log records whose exception is the database being unreachable: background loops (the event
    outbox, alarm escalation, federation...) log their failures with a traceback, each turn; during an
    outage the one warning of `Outage` says it all."""

    def __init__(self, outage: Outage) -> None:
        super().__init__()
        self.outage = outage

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or not self.outage.failed(exc)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}"


def make_engine(url: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # WAL lets the API, the recorder and CLI exports read while the recorder writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
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
    def __init__(self, url: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_s)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        rights_version.install(self._sessions)
        self.outage = Outage()
        self._sqlite = url.startswith("sqlite")

    @contextmanager
    def session(self) -> Iterator[Session]:
        try:
            with self._sessions() as s, s.begin():
                yield s
        except Exception as e:
            self.outage.failed(e)
            raise
        if not self._sqlite:
            self.outage.up()

    def quiet_outage_logs(self) -> None:
        """Install `QuietOutage` on the root logger's handlers (``ronda serve``: after logging is set up)."""
        for handler in logging.getLogger().handlers:
            handler.addFilter(QuietOutage(self.outage))

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
