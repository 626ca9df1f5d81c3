"""Screenshots of the web client's main screens, desktop and phone, into docs/screenshots/.

Starts its own demo-like site (the camera simulator and ``ronda serve`` on free ports with a temporary
data directory and the demo accounts), raises two alarms (a camera switched off in the simulator and an
operator's manual event), drives headless Chromium through each screen, and stops everything it started.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--serve]

``--serve`` skips the screenshots and keeps the site running until Ctrl+C (for looking at the client
by hand: it prints the address and the login).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.helpers (RondaProcess, write_config) and tests.browser

from tests.helpers import (  # noqa: E402
    PW,
    Client,
    RondaProcess,
    camera_ids,
    catalog,
    free_port,
    wait_for,
    write_config,
)

from ronda.access.demo_setup import seed_demo  # noqa: E402
from ronda.devices.simcontrol import SimulatorProcess  # noqa: E402
from ronda.store.db import Database  # noqa: E402

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class DemoSite:
    sim: SimulatorProcess
    ronda: RondaProcess
    data_dir: Path
    ids: dict[str, int]

    def cam(self, name: str) -> int:
        return self.ids[name]

    def client(self, user: str) -> Client:
        return Client(self, user)


@contextlib.contextmanager
def demo_site(base: Path) -> Iterator[DemoSite]:
    """Four simulated cameras with sub-streams plus the clock camera, the demo's organisations and
    accounts (admin, operator, viewer_a, viewer_b; password ``tests.helpers.PW``)."""
    sim = SimulatorProcess(cameras=4, log_dir=base / "logs")
    sim.start()
    ronda = None
    try:
        cams: list[dict[str, Any]] = [
            {"name": f"Camera {n}", "main": {"url": sim.url(f"cam{n}")}, "sub": {"url": sim.url(f"cam{n}", sub=True)}}
            for n in range(1, 5)
        ]
        cams.append({"name": "Clock", "main": {"url": sim.url("clock")}})
        data_dir = base / "data"
        port = free_port()
        cfg = write_config(data_dir, port, cams, site={"name": "Demo city", "timezone": "Europe/Rome"})
        ronda = RondaProcess(cfg, base / "ronda.log", port)
        ronda.start()
        ids = camera_ids(data_dir)
        db = Database(f"sqlite:///{data_dir / 'ronda.db'}")
        seed_demo(db, {n: ids[f"Camera {n}"] for n in range(1, 5)}, PW)
        db.dispose()
        for n in range(1, 5):
            cid = ids[f"Camera {n}"]
            wait_for(lambda cid=cid: catalog(data_dir, cid)[0], 60, what=f"a segment of Camera {n}")
        yield DemoSite(sim, ronda, data_dir, ids)
    finally:
        if ronda is not None:
            ronda.close()
        sim.close()


def raise_alarms(site: DemoSite) -> int:
    """A high technical alarm (Camera 3 switched off) and a medium one from an operator's manual event
    on Camera 1 (through a rule created here). Returns the medium alarm's id."""
    admin = site.client("admin")
    rule = {
        "name": "Operator report",
        "trigger": {"types": ["user.report"]},
        "actions": [
            {
                "type": "raise_alarm",
                "priority": "medium",
                "category": "security",
                "title": "{camera_name}: {text}",
                "instructions": "Look at the related cameras, call the patrol on duty if confirmed, then close "
                "the alarm with what was done.",
                "related_cameras": [site.cam("Camera 2")],
                "pre_alarm_s": 20,
            }
        ],
    }
    r = admin.req("POST", "/api/v1/rules", json=rule)
    assert r.status_code in (201, 409), r.text
    operator = site.client("operator")
    r = operator.req(
        "POST", "/api/v1/events", json={"type": "user.report", "camera": site.cam("Camera 1"), "text": "Bin on fire"}
    )
    assert r.status_code == 202, r.text
    site.sim.stop_camera("cam3")

    def alarms() -> list[dict[str, Any]]:
        return operator.req("GET", "/api/v1/alarms?state=open").json()

    found = wait_for(lambda: len(alarms()) >= 2 and alarms(), 60, what="two open alarms")
    medium = next(a for a in found if a["priority"] == "medium")
    operator.req("POST", f"/api/v1/alarms/{medium['id']}/take", json={"text": ""})
    operator.req("POST", f"/api/v1/alarms/{medium['id']}/comment", json={"text": "Patrol 12 on the way"})
    return int(medium["id"])


def login(page: Any, base: str, user: str) -> None:
    page.goto(base + "/")
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(PW)
    page.get_by_test_id("login-submit").click()
    page.wait_for_selector("[data-testid=nav-live]")


def wait_tiles_playing(page: Any, n: int, timeout: float = 20.0) -> None:
    with contextlib.suppress(Exception):  # a screenshot of a tile still connecting is better than none
        page.wait_for_function(
            "(n) => { const v = [...document.querySelectorAll('video[data-testid=video-tile]')];"
            " return v.length >= n && v.slice(0, n).every((x) => x.readyState >= 2 && x.currentTime > 0); }",
            arg=n,
            timeout=timeout * 1000,
        )


def shoot(page: Any, out: Path, name: str, settle: float = 1.0) -> None:
    time.sleep(settle)
    path = out / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def screens(site: DemoSite, alarm_id: int, out: Path) -> None:
    from tests.browser import launch

    base = site.ronda.base
    out.mkdir(parents=True, exist_ok=True)
    with launch() as browser:
        for kind, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            context = browser.new_context(viewport=viewport, device_scale_factor=1, is_mobile=kind == "phone")
            page = context.new_page()
            try:
                login(page, base, "operator")
                page.get_by_test_id("layout-4").click()
                page.wait_for_selector("[data-testid=video-tile]")
                wait_tiles_playing(page, 1 if kind == "phone" else 4)
                shoot(page, out, f"live-grid-{kind}")
                page.locator("[data-testid=video-tile]").first.dblclick()
                page.wait_for_selector(".live-single [data-testid=video-tile]")
                wait_tiles_playing(page, 1)
                shoot(page, out, f"live-single-{kind}")
                page.goto(base + "/#/alarms")
                page.wait_for_selector("[data-testid=alarm-item]")
                shoot(page, out, f"alarms-{kind}")
                page.goto(base + f"/#/alarms/{alarm_id}")
                page.wait_for_selector(".alarm-info h2")
                wait_tiles_playing(page, 1, 10)
                shoot(page, out, f"alarm-detail-{kind}", 2.0)
                # the playback view (built separately): two cameras, two minutes ago
                at = datetime.fromtimestamp(time.time() - 120, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                page.goto(base + f"/#/playback?cameras={site.cam('Camera 1')},{site.cam('Camera 2')}&at={at}")
                shoot(page, out, f"playback-{kind}", 4.0)
                page.goto(base + "/#/map")
                shoot(page, out, f"map-{kind}", 3.0)
                page.get_by_test_id("logout").click()
                login(page, base, "admin")
                page.goto(base + "/#/admin")
                shoot(page, out, f"admin-{kind}", 2.0)
            finally:
                context.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--serve", action="store_true", help="keep the site running instead of taking screenshots")
    args = ap.parse_args(argv)
    # SIGTERM unwinds like Ctrl+C, so the simulator and Ronda started here are stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="ronda-shots-") as tmp, demo_site(Path(tmp)) as site:
        alarm_id = raise_alarms(site)
        if args.serve:
            print(f"Ronda: {site.ronda.base}/  login operator (or admin, viewer_a, viewer_b) / {PW}", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
            return 0
        screens(site, alarm_id, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
