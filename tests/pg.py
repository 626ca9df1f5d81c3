"""A real PostgreSQL 15 server for the store tests (started here, stopped after the session).

Outside CI, the PostgreSQL tests are skipped when the server binaries are missing; in CI
(CI=true) a missing PostgreSQL is a failure, so "works on PostgreSQL" cannot silently rot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(args: list[str], **kw):
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=True, capture_output=True, timeout=60, **kw)


class PostgresServer:
    """One PostgreSQL 15 server process on a data directory and port of its own: started, killed with
    ``kill -9`` and started again on the same data (the database outage test, tests/faults)."""

    def __init__(self, base: Path, settings: dict[str, str] | None = None) -> None:
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        self.settings = settings or {"fsync": "off"}
        self.proc: subprocess.Popen[bytes] | None = None

    def init(self) -> None:
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])

    def start(self, timeout: float = 30) -> None:
        """Start the server and wait until it accepts connections. After a kill -9 the killed server's
        backends may hold its shared memory for a moment ("pre-existing shared memory block is still in
        use"): the start is tried again until ``timeout``."""
        extra = [a for k, v in self.settings.items() for a in ("-c", f"{k}={v}")]
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(
                (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
                + [
                    str(PG_BIN / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.base),
                    "-h",
                    "127.0.0.1",
                    *extra,
                ],  # fmt: skip
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while self.proc.poll() is None:
                r = subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                                   capture_output=True, check=False)  # fmt: skip
                if r.returncode == 0:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start")
                time.sleep(0.2)
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL exited with {self.proc.returncode} at start")
            time.sleep(0.5)

    @property
    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill9(self) -> None:
        """``kill -9`` of the postmaster (not of ``runuser`` above it), as a crash or the OOM killer would."""
        os.kill(self.postmaster_pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(20)
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def createdb(self, database: str) -> str:
        _as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", database])
        return self.url(database)


@contextlib.contextmanager
def postgres_instance(base_dir: Path | None = None, settings: dict[str, str] | None = None) -> Iterator[PostgresServer]:
    """A started `PostgresServer` in a throw-away directory, removed at the end."""
    base = Path(tempfile.mkdtemp(prefix="ronda-pg-", dir=base_dir))
    shutil.chown(base, "postgres") if os.geteuid() == 0 else None
    server = PostgresServer(base, settings)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def postgres_server(database: str = "ronda_test", base_dir: Path | None = None,
                    settings: dict[str, str] | None = None) -> Iterator[str]:  # fmt: skip
    """A throw-away PostgreSQL 15 server on a free loopback port with one empty database; yields its
    SQLAlchemy URL and removes everything at the end (also used by bench/catalog.py)."""
    with postgres_instance(base_dir, settings) as server:
        yield server.createdb(database)


def postgres_available() -> bool:
    return (PG_BIN / "initdb").exists()


@pytest.fixture(scope="session")
def pg_url():
    if os.environ.get("RONDA_TEST_PG_URL"):
        yield os.environ["RONDA_TEST_PG_URL"]
        return
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL 15 is not installed; scripts/setup.sh installs it")
        pytest.skip("PostgreSQL 15 not installed")
    with postgres_server() as url:
        yield url


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def empty_database(request, tmp_path: Path):
    """A Database with nothing in it on the fixture's backend (``params=BACKENDS``): a new SQLite file, or
    the session's PostgreSQL server with its schema dropped. The caller disposes of it."""
    from sqlalchemy import text

    from ronda.store.db import Database

    url = f"sqlite:///{tmp_path / 'r.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    d = Database(url)
    if request.param == "postgres":
        with d.engine.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    return d
