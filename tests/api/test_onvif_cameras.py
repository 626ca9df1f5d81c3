"""Adding cameras by ONVIF and discovering them, end to end: a real ``ronda serve`` (its own, module
scope), the ONVIF responder of tests/devices answering as a Hikvision dome, a WS-Discovery responder
made with the ``wsdiscovery`` package, and the ``ronda camera add`` command line."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from tests.devices.onvif_responder import FIXTURES, Responder
from tests.devices.test_onvif_discovery import start_camera
from tests.helpers import RondaProcess, free_port, write_config

pytestmark = pytest.mark.slow  # a real ronda serve and the CLI


class Loop:
    """An asyncio loop in a thread, for the responders a synchronous test talks to through Ronda."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    lp = Loop()
    yield lp
    lp.close()


@pytest.fixture(scope="module")
def dome(loop: Loop) -> Iterator[Responder]:
    r = loop.run(Responder(vendor="hikvision").start())
    yield r
    loop.run(r.stop())


@pytest.fixture(scope="module")
def ronda(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RondaProcess]:
    base = tmp_path_factory.mktemp("onvif")
    port = free_port()
    proc = RondaProcess(write_config(base / "data", port, []), base / "ronda.log", port)
    proc.start()
    try:
        yield proc
    finally:
        proc.close()


def cameras(ronda: RondaProcess) -> list[dict[str, Any]]:
    r = ronda.api("GET", "/api/v1/cameras")
    assert r.status_code == 200
    return list(r.json())


def onvif_body(r: Responder, name: str = "Dome", password: str | None = None) -> dict[str, Any]:
    return {"name": name, "onvif": {"address": r.address, "username": r.username, "password": password or r.password}}


def test_add_by_onvif(ronda: RondaProcess, dome: Responder) -> None:
    r = ronda.api("POST", "/api/v1/cameras", json=onvif_body(dome, "Piazza dome"))
    assert r.status_code == 201, r.text
    cam = r.json()
    assert cam["name"] == "Piazza dome"
    assert (
        cam["streams"]["main"]["url"]
        == "rtsp://127.0.0.1:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1"
    )
    assert cam["streams"]["sub"]["url"].endswith("profile=Profile_2")
    assert cam["ptz"] is True
    assert cam["device"] == {"manufacturer": "HIKVISION", "model": "DS-2DE4425IW-DE", "firmware": "V5.7.3 build 220112"}
    assert cam["onvif_address"] == dome.address
    assert cam["username"] == dome.username and cam["password_set"] is True
    assert dome.password not in r.text
    got = ronda.api("GET", f"/api/v1/cameras/{cam['id']}").json()
    assert (got["ptz"], got["device"], got["streams"].keys()) == (True, cam["device"], {"main", "sub"})
    # Stored: the device summary with the PTZ profile and limits; the password encrypted.
    with sqlite3.connect(ronda.config.parent / "data" / "ronda.db") as c:
        row = c.execute("SELECT onvif_info, password_enc, ptz FROM cameras WHERE id = ?", (cam["id"],)).fetchone()
    assert '"ptz_profile": "Profile_1"' in row[0] and '"max_presets": 300' in row[0]
    assert dome.password not in row[1] and row[2] in (1, True)
    audit = ronda.api("GET", "/api/v1/audit", params={"action": "camera.create"})
    if audit.status_code == 200:
        assert dome.address in audit.text


@pytest.mark.parametrize(("case", "reason"), [
    ("wrong password", "ONVIF: the device refused the credentials"),
    ("billion laughs", "DTD or entity declarations"),
    ("stream on another host", "stream URI on another host"),
    ("unreachable", "cannot connect"),
    ("bad address", "http:// or https://"),
])  # fmt: skip
def test_bad_device_is_422_and_nothing_is_created(
    ronda: RondaProcess, loop: Loop, case: str, reason: str, tmp_path: Path
) -> None:
    r = loop.run(Responder(vendor="generic").start())
    try:
        body = onvif_body(r, f"Bad {case}")
        if case == "wrong password":
            body["onvif"]["password"] = "nope"
        elif case == "billion laughs":
            r.overrides["GetDeviceInformation"] = (FIXTURES / "hostile" / "billion_laughs.xml").read_bytes()
        elif case == "stream on another host":
            r.overrides["GetStreamUri"] = (
                b'<trt:GetStreamUriResponse xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
                b'xmlns:tt="http://www.onvif.org/ver10/schema"><trt:MediaUri><tt:Uri>rtsp://203.0.113.9/live</tt:Uri>'
                b"</trt:MediaUri></trt:GetStreamUriResponse>"
            )
        elif case == "unreachable":
            body["onvif"]["address"] = f"127.0.0.1:{free_port()}"
        else:
            body["onvif"]["address"] = "ftp://127.0.0.1/"
        before = len(cameras(ronda))
        resp = ronda.api("POST", "/api/v1/cameras", json=body)
        assert resp.status_code == 422, resp.text
        assert reason in resp.text
        assert len(cameras(ronda)) == before
    finally:
        loop.run(r.stop())


def test_onvif_and_url_together_refused(ronda: RondaProcess, dome: Responder) -> None:
    body = {**onvif_body(dome), "url": "rtsp://127.0.0.1/x"}
    assert ronda.api("POST", "/api/v1/cameras", json=body).status_code == 422
    assert ronda.api("POST", "/api/v1/cameras", json={"name": "nothing"}).status_code == 422


def test_discover_unicast_with_added_flag(ronda: RondaProcess, loop: Loop, dome: Responder) -> None:
    ronda.api("POST", "/api/v1/cameras", json=onvif_body(dome, "Dome for discovery"))
    other = "http://127.0.0.1:9/onvif/device_service"
    devices = [
        (
            dome.address,
            ["onvif://www.onvif.org/hardware/DS-2DE4425IW-DE", "onvif://www.onvif.org/manufacturer/HIKVISION"],
        ),
        (other, ["onvif://www.onvif.org/hardware/IPC-100", "onvif://www.onvif.org/mfr/Generic"]),
    ]
    transport, _, port = loop.run(start_camera(devices))
    try:
        r = ronda.api("GET", "/api/v1/onvif/discover",
                      params={"target": f"127.0.0.1:{port}", "multicast": "false", "timeout": "0.5"})  # fmt: skip
    finally:
        loop.loop.call_soon_threadsafe(transport.close)
    assert r.status_code == 200, r.text
    found = {d["address"]: d for d in r.json()}
    assert found[dome.address]["added"] is True and found[dome.address]["model"] == "DS-2DE4425IW-DE"
    assert found[dome.address]["manufacturer"] == "HIKVISION"
    assert found[other]["added"] is False and found[other]["manufacturer"] == "Generic"
    assert ronda.api("GET", "/api/v1/onvif/discover", params={"target": "10.0.0.0/8"}).status_code == 422
    assert ronda.anon("GET", "/api/v1/onvif/discover").status_code == 401


def run_cli(ronda: RondaProcess, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ronda.cli", "camera", "add", *args, "--password-stdin", "--config", str(ronda.config)],
        input=password + "\n", capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_cli_camera_add_onvif(ronda: RondaProcess, loop: Loop) -> None:
    r = loop.run(Responder(vendor="dahua", auth="digest").start())
    try:
        bad = run_cli(ronda, "--onvif", r.address, "--username", r.username, password="wrong")
        assert (
            bad.returncode == 2 and bad.stderr.strip() == "ronda: ONVIF: the device refused the credentials (HTTP 401)"
        )
        ok = run_cli(ronda, "--onvif", r.address, "--username", r.username, password=r.password)
        assert ok.returncode == 0, ok.stderr
        assert (
            "added" in ok.stdout and "main rtsp://127.0.0.1:554/cam/realmonitor" in ok.stdout and "ptz no" in ok.stdout
        )
    finally:
        loop.run(r.stop())
    cam = next(c for c in cameras(ronda) if c.get("onvif_address") == r.address)
    assert cam["name"] == "Dahua IPC-HDW2431T-AS-S2" and cam["device"]["manufacturer"] == "Dahua"
    assert r.password not in ok.stdout + ok.stderr
    helped = subprocess.run([sys.executable, "-m", "ronda.cli", "camera", "add", "--help"], capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert helped.returncode == 0 and "--onvif HOST" in helped.stdout
