"""Choosing the media profiles that feed a camera's main and sub streams (docs/onvif.md), end to end: the
simulator's ONVIF devices (profiles "main" 1920x1080 and "sub" 640x360), a real ``ronda serve`` that
adds one by ONVIF, and the recording it then makes from the chosen profile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ronda.access.service import create_user
from ronda.devices.onvif.adding import refresh_streams
from ronda.devices.simcontrol import SimulatorProcess
from ronda.devices.simulator import ONVIF_PASSWORD, ONVIF_USER
from ronda.store.access_models import Role
from ronda.store.db import Database
from tests.helpers import RondaProcess, catalog, ffprobe_json, free_port, wait_for, write_config

pytestmark = pytest.mark.slow  # a real ronda serve, the simulator and ffmpeg

OPERATOR, OPERATOR_PASSWORD = "nightshift", "Tr4m-Lantern-91x"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    with SimulatorProcess(cameras=1, onvif=True, log_dir=tmp_path_factory.mktemp("profiles-sim")) as s:
        yield s


@pytest.fixture(scope="module")
def ronda(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RondaProcess]:
    base = tmp_path_factory.mktemp("profiles-ronda")
    port = free_port()
    config = write_config(base / "data", port, [])
    proc = RondaProcess(config, base / "ronda.log", port)
    proc.data_dir = base / "data"  # type: ignore[attr-defined]
    proc.start()
    # An operator of every camera: live, playback, PTZ, but not manage_cameras.
    db = Database(f"sqlite:///{base / 'data' / 'ronda.db'}")
    try:
        with db.session() as s:
            s.add(Role(name="Operator everywhere", rights=["live", "playback", "ptz"], all_cameras=True))
        create_user(db, OPERATOR, OPERATOR_PASSWORD, ["Operator everywhere"])
    finally:
        db.dispose()
    try:
        yield proc
    finally:
        proc.close()


@pytest.fixture(scope="module")
def camera(ronda: RondaProcess, sim: SimulatorProcess) -> dict[str, Any]:
    body = {"name": "Gate", "onvif": {"address": sim.onvif_url(1), "username": ONVIF_USER, "password": ONVIF_PASSWORD}}
    r = ronda.api("POST", "/api/v1/cameras", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _path(cam: dict[str, Any], kind: str) -> str:
    return httpx.URL(cam["streams"][kind]["url"]).path


def test_list_profiles(ronda: RondaProcess, camera: dict[str, Any]) -> None:
    r = ronda.api("GET", f"/api/v1/cameras/{camera['id']}/onvif/profiles")
    assert r.status_code == 200, r.text
    got = {p["token"]: p for p in r.json()}
    assert {"main", "sub"} <= set(got), got
    assert (got["main"]["width"], got["main"]["height"], got["main"]["main"], got["main"]["sub"]) == (
        1920,
        1080,
        True,
        False,
    )
    assert (got["sub"]["width"], got["sub"]["height"], got["sub"]["main"], got["sub"]["sub"]) == (640, 360, False, True)
    assert got["main"]["codec"] and got["main"]["name"]


def test_choose_sub_profile_for_main_records_it(ronda: RondaProcess, camera: dict[str, Any]) -> None:
    cid = camera["id"]
    sub_path = _path(camera, "sub")
    assert _path(camera, "main") != sub_path
    since = int(time.time() * 1000)
    r = ronda.api("PUT", f"/api/v1/cameras/{cid}/onvif/profiles", json={"main": "sub", "sub": None})
    assert r.status_code == 200, r.text
    view = r.json()
    assert _path(view, "main") == sub_path and "sub" not in view["streams"], view["streams"]
    assert ronda.api("GET", f"/api/v1/cameras/{cid}").json()["streams"]["main"]["url"] == view["streams"]["main"]["url"]
    listed = {p["token"]: p for p in ronda.api("GET", f"/api/v1/cameras/{cid}/onvif/profiles").json()}
    assert (listed["sub"]["main"], listed["main"]["main"], listed["main"]["sub"]) == (True, False, False), listed

    data: Path = ronda.data_dir  # type: ignore[attr-defined]

    def new_segment() -> Any:
        return [s for s in catalog(data, cid, "main")[0] if s.start_ms > since + 500]

    seg = wait_for(new_segment, 60, what="a main segment recorded from the sub profile")[0]
    video = [s for s in ffprobe_json(data / "recordings" / seg.path)["streams"] if s["codec_type"] == "video"]
    assert video[0]["width"] == 640, video

    audit = ronda.api("GET", "/api/v1/audit", params={"action": "camera.onvif_profiles"})
    assert audit.status_code == 200, audit.text
    entries = [e for e in audit.json() if e.get("action") == "camera.onvif_profiles"]
    assert entries and entries[0]["details"] == {"main": "sub", "sub": None}, audit.json()

    # and back: main from "main", sub from "sub"
    r = ronda.api("PUT", f"/api/v1/cameras/{cid}/onvif/profiles", json={"main": "main", "sub": "sub"})
    assert r.status_code == 200, r.text
    assert _path(r.json(), "sub") == sub_path and _path(r.json(), "main") != sub_path


def test_unknown_token_is_422(ronda: RondaProcess, camera: dict[str, Any]) -> None:
    before = ronda.api("GET", f"/api/v1/cameras/{camera['id']}").json()["streams"]
    for body in ({"main": "nosuch", "sub": None}, {"main": "main", "sub": "nosuch"}, {"main": "sub", "sub": "sub"}):
        r = ronda.api("PUT", f"/api/v1/cameras/{camera['id']}/onvif/profiles", json=body)
        assert r.status_code == 422, (body, r.text)
    assert ronda.api("GET", f"/api/v1/cameras/{camera['id']}").json()["streams"] == before


def test_camera_not_added_by_onvif_is_404(ronda: RondaProcess, sim: SimulatorProcess) -> None:
    r = ronda.api("POST", "/api/v1/cameras", json={"name": "Plain", "url": sim.url("cam1")})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    for method, kw in (("GET", {}), ("PUT", {"json": {"main": "main"}})):
        got = ronda.api(method, f"/api/v1/cameras/{cid}/onvif/profiles", **kw)
        assert got.status_code == 404, got.text
        assert "not added by ONVIF" in got.text, got.text


def test_operator_without_manage_cameras_is_403(ronda: RondaProcess, camera: dict[str, Any]) -> None:
    token = ronda.login(OPERATOR, OPERATOR_PASSWORD)
    head = {"Authorization": f"Bearer {token}"}
    assert ronda.anon("GET", f"/api/v1/cameras/{camera['id']}", headers=head).status_code == 200
    for method, kw in (("GET", {}), ("PUT", {"json": {"main": "sub"}})):
        r = ronda.anon(method, f"/api/v1/cameras/{camera['id']}/onvif/profiles", headers=head, **kw)
        assert r.status_code == 403, r.text


def test_a_reconnect_keeps_the_chosen_profiles(sim: SimulatorProcess) -> None:
    """What a reconnect reads (``refresh_camera_streams`` passes the stored tokens): the chosen profiles'
    URIs, not a new choice by resolution; by resolution again when the device lost the chosen main."""

    def urls(chosen: dict[str, Any] | None) -> dict[str, str]:
        got = asyncio.run(refresh_streams(sim.onvif_url(1), ONVIF_USER, ONVIF_PASSWORD, timeout_s=5, chosen=chosen))
        return {k: httpx.URL(v).path for k, v in got.items()}

    by_resolution = urls(None)
    assert set(by_resolution) == {"main", "sub"} and by_resolution["main"] != by_resolution["sub"]
    assert urls({"main": "sub"}) == {"main": by_resolution["sub"]}
    assert urls({"main": "sub", "sub": "main"}) == {"main": by_resolution["sub"], "sub": by_resolution["main"]}
    assert urls({"main": "gone", "sub": "main"}) == by_resolution


def test_device_failure_is_502_and_nothing_changes(ronda: RondaProcess, camera: dict[str, Any]) -> None:
    """The camera's credentials no longer match the device's: the device refuses, 502 with the reason."""
    cid = camera["id"]
    assert ronda.api("PATCH", f"/api/v1/cameras/{cid}", json={"password": "not-the-one"}).status_code == 200
    try:
        before = ronda.api("GET", f"/api/v1/cameras/{cid}").json()["streams"]
        got = ronda.api("GET", f"/api/v1/cameras/{cid}/onvif/profiles")
        assert got.status_code == 502, got.text
        assert "credentials" in got.json()["detail"], got.text
        put = ronda.api("PUT", f"/api/v1/cameras/{cid}/onvif/profiles", json={"main": "sub"})
        assert put.status_code == 502, put.text
        assert ronda.api("GET", f"/api/v1/cameras/{cid}").json()["streams"] == before
    finally:
        assert ronda.api("PATCH", f"/api/v1/cameras/{cid}", json={"password": ONVIF_PASSWORD}).status_code == 200
