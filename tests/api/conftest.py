"""Accounts of the demo's organisations on the shared site, for the API tests."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from ronda.access.demo_setup import seed_demo
from ronda.access.service import create_user
from ronda.store.access_models import Role, TimeProfile
from ronda.store.db import Database
from tests.helpers import ADMIN_PASSWORD

PW = ADMIN_PASSWORD  # the demo accounts share it; admin keeps the password the site uses


class Client:
    def __init__(self, site, username: str, password: str = PW) -> None:
        self.site = site
        r = site.ronda.anon("POST", "/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        self.tokens = r.json()
        self.h = {"Authorization": f"Bearer {self.tokens['access_token']}"}

    def req(self, method: str, path: str, **kw) -> httpx.Response:
        return self.site.ronda.anon(method, path, headers={**self.h, **kw.pop("headers", {})}, **kw)


@pytest.fixture(scope="session")
def users(site):
    """The demo's organisations and accounts on the site's cameras, plus a night-shift viewer."""
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    seed_demo(db, {n: site.cam(f"Camera {n}") for n in range(1, 5)}, PW)
    with db.session() as s:
        # Night shift only: a profile that never covers the current hour.
        hour = (datetime.now(UTC).hour + 12) % 24
        tp = TimeProfile(
            name="night",
            timezone="UTC",
            rules=[{"days": list(range(7)), "start": f"{hour:02d}:00", "end": f"{(hour + 1) % 24:02d}:00"}],
        )
        s.add(tp)
        s.flush()
        role = Role(name="Night viewer", rights=["live", "playback"], all_cameras=True, time_profile_id=tp.id)
        s.add(role)
        s.flush()
    create_user(db, "night", PW, ["Night viewer"])
    create_user(db, "victim", PW, ["viewer"])
    db.dispose()
    return {u: Client(site, u) for u in ("admin", "operator", "viewer_a", "viewer_b", "night")}
