"""A small real Ronda for the analytics API tests: ``ronda serve`` as an API-only node (no recorder, no
simulator: the motion and object records are written straight into its catalog, as the analytics
workers would), four cameras from the YAML (camera 1 with an ``analytics`` block) and the demo's
accounts (viewer_a: odd cameras, viewer_b: even ones)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ronda.access.demo_setup import seed_demo
from ronda.store.db import Database
from tests.helpers import PW, Client, RondaProcess, camera_ids, free_port, write_config

YAML_ANALYTICS = {
    "detectors": ["motion", "objects"],
    "zones": [{"name": "door", "kind": "include", "points": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6], [0.1, 0.6]]}],
}


@dataclass
class AnalyticsSite:
    ronda: RondaProcess
    data_dir: Path
    db: Database
    cams: dict[int, int]  # camera number (1..4) -> id
    users: dict[str, Client]


@contextmanager
def analytics_site(base: Path) -> Iterator[AnalyticsSite]:
    data_dir = base / "data"
    port = free_port()
    cameras: list[dict[str, Any]] = [
        {"name": f"Camera {n}", "main": {"url": f"rtsp://127.0.0.1:1/cam{n}"}} for n in range(1, 5)
    ]
    cameras[0]["analytics"] = YAML_ANALYTICS
    cfg = write_config(data_dir, port, cameras, recording={"enabled": False})
    ronda = RondaProcess(cfg, base / "ronda.log", port)
    ronda.start()
    db = Database(f"sqlite:///{data_dir / 'ronda.db'}")
    try:
        ids = camera_ids(data_dir)
        cams = {n: ids[f"Camera {n}"] for n in range(1, 5)}
        seed_demo(db, cams, PW)
        site = AnalyticsSite(ronda, data_dir, db, cams, {})
        site.users = {u: Client(site, u) for u in ("admin", "operator", "viewer_a", "viewer_b")}
        yield site
    finally:
        db.dispose()
        ronda.close()
