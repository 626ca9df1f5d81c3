"""Shared, expensive fixtures: one simulator and one recording Ronda for the whole session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ronda.access.demo_setup import seed_demo
from ronda.access.service import create_user
from ronda.devices.simcontrol import SimulatorProcess
from ronda.store.access_models import Role, TimeProfile
from ronda.store.db import Database
from tests.helpers import PW, Client, RondaProcess, camera_ids, catalog, free_port, wait_for, write_config
from tests.pg import (
    BACKENDS,
    empty_database,
    pg_url,  # noqa: F401  (session-wide PostgreSQL 15 server)
)

SECURE_PASSWORD = "p@ss:w#rd%"  # the simulator's /secure camera  # noqa: S105


@pytest.fixture(params=BACKENDS)
def migrated_db(request, tmp_path):
    """A database migrated to the head, on each backend (PostgreSQL with its schema dropped first)."""
    d = empty_database(request, tmp_path)
    d.upgrade()
    yield d
    d.dispose()


# Fixtures that start real servers (simulator, Ronda, Chromium, PostgreSQL, mounts): a test using one
# belongs to the slow tier. `pytest -m "not slow"` is the fast tier (unit and in-process tests).
SLOW_FIXTURES = frozenset({
    "sim", "site", "users", "browser", "pg_url", "simproc", "world", "pair", "rome", "fuzz_site", "mqtt_site",
    "sec_users", "tmpfs",
})  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = pytest.mark.slow
    for item in items:
        if (
            SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            or item.get_closest_marker("browser")
            or item.get_closest_marker("postgres")
            or "[postgres" in item.nodeid
        ):
            item.add_marker(slow)


@dataclass
class Site:
    sim: SimulatorProcess
    ronda: RondaProcess
    data_dir: Path
    ids: dict[str, int] = field(default_factory=dict)
    started: float = 0.0  # time.time() when Ronda first started

    def cam(self, name: str) -> int:
        return self.ids[name]


def site_cameras(sim: SimulatorProcess) -> list[dict]:
    cams = [
        {"name": "Camera 1", "main": {"url": sim.url("cam1")}, "sub": {"url": sim.url("cam1", sub=True)}},
        {"name": "Camera 2", "main": {"url": sim.url("cam2")}},
        {"name": "Camera 3", "main": {"url": sim.url("cam3")}},
        {"name": "Camera 4", "main": {"url": sim.url("cam4")}},
        {"name": "Stall", "main": {"url": sim.url("cam5", sub=True)}},
        {"name": "Outage", "main": {"url": sim.url("cam6", sub=True)}},
        {"name": "HEVC", "main": {"url": sim.url("hevc")}},
        {"name": "G711", "main": {"url": sim.url("audio")}},
        {"name": "Secure", "main": {"url": sim.url("secure")}, "username": "admin", "password": SECURE_PASSWORD},
        {"name": "WrongPassword", "main": {"url": sim.url("secure")}, "username": "admin", "password": "wrong"},
        # Frames stamped with a machine-readable wall-clock time code: latency and frame-time checks.
        {"name": "Clock", "main": {"url": sim.url("clock")}},
    ]
    return cams


@pytest.fixture(scope="session")
def sim(tmp_path_factory) -> Iterator[SimulatorProcess]:
    logs = tmp_path_factory.mktemp("sim")
    s = SimulatorProcess(cameras=6, log_dir=logs)
    s.start()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def site(sim, tmp_path_factory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("site")
    data_dir = base / "data"
    port = free_port()
    # The rights matrix's own cameras (mxcam...) are simulated PTZ domes; short PTZ sessions, so that one
    # principal's command does not block the next for long.
    cfg = write_config(data_dir, port, site_cameras(sim),
                       ptz={"simulated_domes": ["mxcam*"], "session_timeout_seconds": 1})  # fmt: skip
    ronda = RondaProcess(cfg, base / "ronda.log", port)
    ronda.start()
    st = Site(sim=sim, ronda=ronda, data_dir=data_dir, started=time.time())
    st.ids = camera_ids(data_dir)
    try:
        # Every test using the site may assume the four plain cameras are recording.
        for n in range(1, 5):
            wait_for(lambda n=n: catalog(data_dir, st.cam(f"Camera {n}"))[0], 40, what=f"a segment of Camera {n}")
        yield st
    finally:
        ronda.close()


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


@pytest.fixture(scope="module")
def browser():
    """Real headless Chromium (Debian's) driven by Playwright. Per module, not per session: Playwright's
    sync API leaves its event loop marked as running in this thread while it is open, and any later
    ``asyncio.run`` (or async test) would fail, whatever order the tests run in."""
    from tests.browser import launch

    with launch() as b:
        yield b
