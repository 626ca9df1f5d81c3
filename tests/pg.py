"""A real PostgreSQL 15 server for the store tests (started here, stopped after the session).

Outside CI, the PostgreSQL tests are skipped when the server binaries are missing; in CI
(CI=true) a missing PostgreSQL is a failure, so "works on PostgreSQL" cannot silently rot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
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


@contextlib.contextmanager
def postgres_server(database: str = "ronda_test", base_dir: Path | None = None,
                    settings: dict[str, str] | None = None) -> Iterator[str]:  # fmt: skip
    """A throw-away PostgreSQL 15 server on a free loopback port with one empty database; yields its
    SQLAlchemy URL and removes everything at the end (also used by bench/catalog.py)."""
    base = Path(tempfile.mkdtemp(prefix="ronda-pg-", dir=base_dir))
    shutil.chown(base, "postgres") if os.geteuid() == 0 else None
    data = base / "data"
    port = free_port()
    _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    extra = [a for k, v in (settings or {"fsync": "off"}).items() for a in ("-c", f"{k}={v}")]
    proc = subprocess.Popen(
        (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
        + [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(base), "-h", "127.0.0.1", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            r = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True, check=False
            )
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not start")
            time.sleep(0.2)
        _as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database])
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


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
