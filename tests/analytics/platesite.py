"""A small real Ronda for the plate tests: ``ronda serve`` as an API-only node (no recorder) with four
cameras and two organisations, and an ``AnalyticsService`` of this process on the server's database and
data directory, through whose result path plate reads arrive (``PlateSite.feed``), as the analytics
workers' results would."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ronda.access.rights import LIVE, PLATES, PLAYBACK, ensure_builtin_roles
from ronda.access.service import create_user
from ronda.analytics.pipeline import EventOut
from ronda.analytics.service import AnalyticsService
from ronda.config import AnalyticsConfig
from ronda.store.access_models import CameraGroup, CameraGroupMember, CameraShare, Organisation, Role, RoleScope
from ronda.store.db import Database
from tests.helpers import PW, Client, RondaProcess, camera_ids, free_port, write_config

CROP = b"\xff\xd8\xff\xe0plate-crop\xff\xd9"


def plate_jpeg(text: str) -> bytes:
    """A real JPEG of a plate (white, black letters), as the reader's crop would be."""
    import cv2
    import numpy as np

    img = np.full((40, 180, 3), 255, np.uint8)
    cv2.putText(img, text, (6, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
    ok, data = cv2.imencode(".jpg", img)
    assert ok
    return bytes(data)


@dataclass
class PlateSite:
    ronda: RondaProcess
    data_dir: Path
    db: Database
    cams: dict[int, int]
    orgs: dict[str, int]
    users: dict[str, Client]
    svc: AnalyticsService

    def feed(self, n: int, plate: str, t: int, track: int = 1, crop: bytes = CROP) -> None:
        box = (0.3, 0.6, 0.45, 0.66)
        r = EventOut("plate.read", t, {"plate": plate, "confidence": 0.91, "box": list(box), "track": track,
                                       "format": "it"}, box, snapshot=crop)  # fmt: skip
        self.svc._write([("results", (self.cams[n], [r]))])  # the writer thread's path for a worker's results


def setup_organisations(db: Database, cams: dict[int, int]) -> dict[str, int]:
    """Polizia Locale (A) owns cameras 1 and 2 and shares them with the Municipio (B), which owns 3 and 4.
    Users: pol (plates on A's), muni (plates on B's), muni_live (live only on B's), muni_admin (B's
    administrator: every right on B's cameras and the shared ones), muni_rules (manage_rules in B); the
    site's admin is RondaProcess's."""
    with db.session() as s:
        ensure_builtin_roles(s)
        a, b = Organisation(name="Polizia Locale"), Organisation(name="Municipio")
        s.add_all([a, b])
        s.flush()
        ga, gb = CameraGroup(organisation_id=a.id, name="A cams"), CameraGroup(organisation_id=b.id, name="B cams")
        s.add_all([ga, gb])
        s.flush()
        s.add_all([CameraGroupMember(group_id=ga.id, camera_id=cams[1]),
                   CameraGroupMember(group_id=ga.id, camera_id=cams[2]),
                   CameraGroupMember(group_id=gb.id, camera_id=cams[3]),
                   CameraGroupMember(group_id=gb.id, camera_id=cams[4]),
                   CameraShare(camera_group_id=ga.id, organisation_id=b.id)])  # fmt: skip
        roles = {
            "plates A": (a.id, [LIVE, PLAYBACK, PLATES], [ga.id]),
            "plates B": (b.id, [LIVE, PLAYBACK, PLATES], [gb.id, ga.id]),  # plates on the shared ones too
            "live B": (b.id, [LIVE, PLAYBACK], [gb.id]),
        }
        for name, (org, rights, groups) in roles.items():
            role = Role(name=name, organisation_id=org, rights=rights)
            s.add(role)
            s.flush()
            s.add_all([RoleScope(role_id=role.id, camera_group_id=g) for g in groups])
        rules_role = Role(name="rules B", organisation_id=b.id, rights=["manage_rules"], all_cameras=True)
        s.add(rules_role)
        orgs = {"A": a.id, "B": b.id}
    for name, roles_, org in (("pol", ["plates A"], orgs["A"]),
                              ("muni", ["plates B"], orgs["B"]), ("muni_live", ["live B"], orgs["B"]),
                              ("muni_admin", ["administrator"], orgs["B"]),
                              ("muni_rules", ["rules B"], orgs["B"])):  # fmt: skip
        create_user(db, name, PW, roles_, org, enforce_policy=False)
    return orgs


@contextlib.contextmanager
def plate_site(base: Path) -> Iterator[PlateSite]:
    data_dir = base / "data"
    port = free_port()
    cameras = [{"name": f"Camera {n}", "main": {"url": f"rtsp://127.0.0.1:1/cam{n}"}} for n in range(1, 5)]
    cfg = write_config(data_dir, port, cameras, recording={"enabled": False})
    ronda = RondaProcess(cfg, base / "ronda.log", port)
    ronda.start()
    db = Database(f"sqlite:///{data_dir / 'ronda.db'}")
    try:
        ids = camera_ids(data_dir)
        cams = {n: ids[f"Camera {n}"] for n in range(1, 5)}
        orgs = setup_organisations(db, cams)
        svc = AnalyticsService(AnalyticsConfig(workers=1), db, data_dir / "recordings", data_dir)
        site = PlateSite(ronda, data_dir, db, cams, orgs, {}, svc)
        site.users = {u: Client(site, u) for u in ("admin", "pol", "muni", "muni_live", "muni_admin", "muni_rules")}
        yield site
    finally:
        db.dispose()
        ronda.close()
