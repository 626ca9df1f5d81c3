"""The analytics tests' database: an upgraded one with cameras 1..4, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ronda.store.db import Database
from ronda.store.models import Camera

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'r.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    d = Database(url)
    if request.param == "postgres":
        with d.engine.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    d.upgrade()
    with d.session() as s:
        s.add_all([Camera(id=i, name=f"cam{i}", created_ms=0, status="x") for i in range(1, 5)])
    yield d
    d.dispose()
