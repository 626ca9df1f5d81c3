"""The store tests' database: an empty one on each backend (PostgreSQL with its schema dropped)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ronda.store.db import Database

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
    yield d
    d.dispose()
