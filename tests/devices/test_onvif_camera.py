"""A camera added by ONVIF, as the recorder and the events role use it: its row, the refresh of its stream
URIs after a reboot, its events pulled and stored as Ronda events (real SQLite database, real responder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ronda.access.secrets import SecretBox
from ronda.devices import registry
from ronda.devices.onvif.adding import camera_from_onvif
from ronda.devices.onvif.camera import (
    camera_events,
    onvif_camera,
    onvif_camera_ids,
    ptz_driver,
    refresh_camera_streams,
    store_event,
)
from ronda.store import repos
from ronda.store.db import Database
from tests.devices.onvif_responder import Responder


@pytest.fixture
def store(tmp_path: Path) -> tuple[Database, SecretBox]:
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.upgrade()
    return db, SecretBox.load_or_create(tmp_path / "secrets.key")


async def add(store: tuple[Database, SecretBox], r: Responder) -> int:
    db, secrets = store
    body = registry.CameraCreate(name="Dome", onvif=registry.OnvifAdd(address=r.address, username=r.username,
                                                                       password=r.password))  # fmt: skip
    data, onvif = await camera_from_onvif(body)
    return registry.create_camera(db, secrets, data, check_reachable=False, onvif=onvif).id


async def test_row_refresh_events_and_ptz(store: tuple[Database, SecretBox]) -> None:
    db, secrets = store
    r = await Responder(vendor="hikvision").start()
    try:
        cid = await add(store, r)
        assert onvif_camera_ids(db) == [cid]
        cam = onvif_camera(db, secrets, cid)
        assert cam is not None and cam.password == r.password and r.password not in repr(cam)
        # Same URIs: nothing changes. After a "reboot" the device gives new ones: stored, codec forgotten.
        assert await refresh_camera_streams(db, secrets, cid) is False
        r.overrides["GetStreamUri"] = (
            b'<trt:GetStreamUriResponse xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
            b'xmlns:tt="http://www.onvif.org/ver10/schema"><trt:MediaUri><tt:Uri>rtsp://127.0.0.1:8554/after-reboot'
            b"</tt:Uri></trt:MediaUri></trt:GetStreamUriResponse>"
        )
        assert await refresh_camera_streams(db, secrets, cid) is True
        with db.session() as s:
            row = repos.get_camera(s, cid)
            assert row is not None and {st.kind: st.url for st in row.streams} == {
                "main": "rtsp://127.0.0.1:8554/after-reboot", "sub": "rtsp://127.0.0.1:8554/after-reboot"}  # fmt: skip
        # Events: pulled from the camera, stored as Ronda events of the camera.
        events = camera_events(cam)
        got = []
        async for ev in events:
            got.append(store_event(db, cid, ev))
            if len(got) == 3:
                break
        await events.aclose()
        with db.engine.connect() as c:
            rows = c.exec_driver_sql("SELECT type, severity, source, camera_id FROM events ORDER BY id").all()
        assert [tuple(x) for x in rows] == [
            ("motion.start", "info", "camera", cid),
            ("input.inactive", "info", "camera", cid),
            ("tamper.covered", "warning", "camera", cid),
        ]
        # The dome's driver from the stored summary (profile token and limits, no extra request).
        async with cam.device() as dev:
            ptz = ptz_driver(cam, dev)
            assert ptz is not None and (await ptz.limits()).max_presets == 300
            await ptz.goto_preset("1")
        assert b"<ns0:ProfileToken>Profile_1</ns0:ProfileToken>" in r.body_of("GotoPreset")
    finally:
        await r.stop()
