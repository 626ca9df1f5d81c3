"""A Ronda API in this process (``create_app`` on a real SQLite file, real keys, the real events
service), driven through Starlette's TestClient: for tests that need two app instances on one
database, or that inject a failure inside a request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ronda.access.service import create_user
from ronda.api.app import create_app
from ronda.config import Config
from ronda.runtime import build
from tests.helpers import PW


def site_config(data_dir: Path) -> Config:
    return Config.model_validate({"data_dir": str(data_dir), "recording": {"enabled": False},
                                  "events": {"default_rules": False}})  # fmt: skip


class Api:
    """One app instance with a signed-in user."""

    def __init__(self, client: TestClient, username: str, password: str = PW) -> None:
        self.client = client
        r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def req(self, method: str, path: str, **kw: Any) -> Any:
        return self.client.request(method, path, headers=self.headers, **kw)


@contextmanager
def app_instance(data_dir: Path) -> Iterator[tuple[TestClient, Any]]:
    """An API process's worth of state (database engine, audit log, auth, events) on ``data_dir``."""
    ctx = build(site_config(data_dir), migrate=True, record=False)
    try:
        with TestClient(create_app(ctx, manage_recorder=False), raise_server_exceptions=False) as client:
            yield client, ctx
    finally:
        ctx.audit.close()
        ctx.db.dispose()


def add_admin(ctx: Any, username: str = "admin") -> None:
    create_user(ctx.db, username, PW, ["administrator"])
