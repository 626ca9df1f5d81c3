"""The analytics tests' database: an upgraded one with cameras 1..4, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ronda.store.models import Camera
from tests.pg import BACKENDS, empty_database


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    d = empty_database(request, tmp_path)
    d.upgrade()
    with d.session() as s:
        s.add_all([Camera(id=i, name=f"cam{i}", created_ms=0, status="x") for i in range(1, 5)])
    yield d
    d.dispose()
