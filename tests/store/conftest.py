"""The store tests' database: an empty one on each backend (PostgreSQL with its schema dropped)."""

from __future__ import annotations

import pytest

from tests.pg import BACKENDS, empty_database


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    d = empty_database(request, tmp_path)
    yield d
    d.dispose()
