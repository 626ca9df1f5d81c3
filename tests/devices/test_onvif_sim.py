"""The simulator's ONVIF devices, driven by clients not written here: the npm package ``onvif`` (through
tests/devices/onvif_client.js), PyPI ``wsdiscovery``, ffprobe/ffmpeg on the URIs they return.

Hostile and negative requests (wrong password, PasswordText, clock skew, XXE) are sent raw."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ronda.devices.simcontrol import SimulatorProcess
from ronda.devices.simdome import read_position_code
from ronda.devices.simulator import ONVIF_PASSWORD, ONVIF_USER

NODE_MODULES = Path(os.environ.get("RONDA_NODE_MODULES", Path(sys.prefix) / "tools" / "node_modules"))
CLIENT = Path(__file__).with_name("onvif_client.js")
TCP = ["-rtsp_transport", "tcp"]

pytestmark = [
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg/ffprobe"),
    pytest.mark.skipif(shutil.which("node") is None, reason="needs Node"),
    pytest.mark.skipif(
        not (NODE_MODULES / "onvif").is_dir(), reason=f"needs the npm package onvif in {NODE_MODULES} (setup.sh --test)"
    ),
]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    # camera 1: the dome; camera 3: a moving clip (motion); WS-Discovery on the standard port for multicast
    with SimulatorProcess(
        cameras=3, onvif=True, dome=True, discovery_port=3702, log_dir=tmp_path_factory.mktemp("sim")
    ) as proc:
        yield proc


def node(step: str, sim: SimulatorProcess, number: int, password: str = ONVIF_PASSWORD, **env: str) -> dict[str, Any]:
    assert sim.onvif_port is not None
    full_env = {**os.environ, "NODE_PATH": str(NODE_MODULES), "ONVIF_PASSWORD": password, **env}
    argv = ["node", str(CLIENT), step, sim.host, str(sim.onvif_port), f"/onvif/{number}/device_service"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=full_env, check=False)
    out = json.loads(res.stdout.strip().splitlines()[-1]) if res.stdout.strip() else {"error": res.stderr}
    out["_rc"] = res.returncode
    return out


def ffprobe_video(url: str) -> dict[str, Any]:
    cmd = ["ffprobe", "-v", "error", *TCP, "-select_streams", "v", "-show_entries", "stream=codec_name,width,height"]
    res = subprocess.run([*cmd, "-of", "json", url], capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["streams"][0]


def grab_luma(url: str, width: int, height: int, frames: int = 1) -> list[bytes]:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", *TCP, "-i", url, "-frames:v", str(frames)]
    res = subprocess.run([*cmd, "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"], capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr.decode()
    n = width * height
    return [res.stdout[i * n : (i + 1) * n] for i in range(len(res.stdout) // n)]


# --------------------------------------------------------------------------- raw SOAP (negative paths)


def ws_header(password: str, created: dt.datetime, kind: str = "PasswordDigest") -> str:
    nonce = os.urandom(16)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if kind == "PasswordDigest":
        value = base64.b64encode(hashlib.sha1(nonce + stamp.encode() + password.encode()).digest()).decode()  # noqa: S324
    else:
        value = password
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
    profile = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    return (
        f'<Security xmlns="{wsse}"><UsernameToken><Username>{ONVIF_USER}</Username>'
        f'<Password Type="{profile}#{kind}">{value}</Password><Nonce>{base64.b64encode(nonce).decode()}</Nonce>'
        f'<Created xmlns="{wsu}">{stamp}</Created></UsernameToken></Security>'
    )


def soap(sim: SimulatorProcess, number: int, body: str, header: str = "", service: str = "device") -> tuple[int, str]:
    envelope = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>'
        f"{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )
    return post(sim.onvif_url(number).replace("/device_service", f"/{service}_service"), envelope.encode())


def post(url: str, data: bytes) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/soap+xml"})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


DEVICE_INFO = '<GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/>'
NOW = dt.datetime.now


# ------------------------------------------------------------------------------------------------ tests


def test_device_information_profiles_and_stream_uris(sim: SimulatorProcess) -> None:
    out = node("info", sim, 1)
    assert out["_rc"] == 0, out
    assert out["device"]["manufacturer"] == "Ronda"
    assert out["device"]["model"] == "SimDome PTZ"
    scopes = {s["scopeItem"] for s in out["scopes"]}
    assert "onvif://www.onvif.org/type/ptz" in scopes
    profiles = {p["token"]: p for p in out["profiles"]}
    assert set(profiles) == {"main", "sub"}
    for token, size in (("main", (1920, 1080)), ("sub", (640, 360))):
        p = profiles[token]
        assert (p["encoding"], p["width"], p["height"], p["fps"], p["ptz"]) == ("H264", *size, 15, True)
        # the URI the client got answers with a real stream of the announced codec and size
        video = ffprobe_video(p["stream"])
        assert (video["codec_name"], video["width"], video["height"]) == ("h264", *size)


def test_a_fixed_camera_has_no_ptz(sim: SimulatorProcess) -> None:
    out = node("info", sim, 2)
    assert out["_rc"] == 0, out
    assert out["device"]["model"] == "SimCam Bullet"
    assert [p["ptz"] for p in out["profiles"]] == [False, False]
    assert ffprobe_video(out["profiles"][1]["stream"])["width"] == 640


def test_snapshot_uri_serves_a_jpeg_of_the_camera(sim: SimulatorProcess, tmp_path: Path) -> None:
    out = node("info", sim, 3)
    uri = out["profiles"][0]["snapshot"]
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(uri, timeout=20)  # noqa: S310
    assert anonymous.value.code == 401
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, uri, ONVIF_USER, ONVIF_PASSWORD)
    opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(passwords))
    with opener.open(uri, timeout=30) as resp:
        assert resp.headers["Content-Type"] == "image/jpeg"
        jpeg = resp.read()
    assert jpeg[:2] == b"\xff\xd8"
    (tmp_path / "snap.jpg").write_bytes(jpeg)
    cmd = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "json"]
    probe = subprocess.run([*cmd, str(tmp_path / "snap.jpg")], capture_output=True, text=True, timeout=20, check=True)
    assert json.loads(probe.stdout)["streams"][0] == {"codec_name": "mjpeg", "width": 1920, "height": 1080}


def test_ptz_moves_presets_and_the_position_in_the_picture(sim: SimulatorProcess) -> None:
    out = node("ptz", sim, 1)
    assert out["_rc"] == 0, out
    assert out["nodes"] == ["PTZNode_1"] and out["configurations"] == ["PTZConfig_1"]

    def near(pos: dict[str, float], x: float, y: float, zoom: float) -> bool:
        return abs(pos["x"] - x) < 2e-3 and abs(pos["y"] - y) < 2e-3 and abs(pos["zoom"] - zoom) < 2e-3

    assert near(out["absolute"], 0.5, -0.25, 0.3)
    assert near(out["clamped"], 1.0, -1.0, 1.0)  # asked 5, -7, 2: clamped to the limits
    assert near(out["atPreset"], 0.5, -0.25, 0.3)
    # continuous at -0.5 (1 unit/s) for ~0.4 s, integrated over time: pan went left by about 0.4
    assert 0.1 < 0.5 - out["afterContinuous"]["x"] < 0.9
    assert out["afterContinuous"]["y"] == pytest.approx(-0.25, abs=2e-3)
    assert near(out["afterRelative"], out["afterContinuous"]["x"] + 0.1, -0.15, 0.3)
    assert near(out["final"], 0.5, -0.25, 0.3)
    assert sim.ptz_position()["moving"] is False

    # the dome's picture shows where it looks: the code in the frames of both streams reads the preset
    for path, (w, h) in (("/cam1/sub", (640, 360)), ("/cam1", (1920, 1080))):
        frames = grab_luma(f"rtsp://{sim.host}:{sim.rtsp_port}{path}", w, h, frames=3)
        positions = [read_position_code(f, w) for f in frames]
        assert positions and all(p is not None for p in positions), positions
        for p in positions:
            assert p is not None
            assert (p.pan, p.tilt, p.zoom) == pytest.approx((0.5, -0.25, 0.3), abs=1e-3)


def test_event_pull_gets_motion_and_a_tampering_raised_on_the_control_port(sim: SimulatorProcess) -> None:
    sim.raise_event("cam3", "tamper", False)
    proc = subprocess.Popen(
        ["node", str(CLIENT), "events", sim.host, str(sim.onvif_port), "/onvif/3/device_service"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES), "ONVIF_PASSWORD": ONVIF_PASSWORD,
             "ONVIF_WANT": "TamperDetector/Tamper,CellMotionDetector/Motion"},
    )  # fmt: skip
    time.sleep(3)  # subscribed and pulling by now
    sim.raise_event("cam3", "tamper", True)
    stdout, stderr = proc.communicate(timeout=60)
    out = json.loads(stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, (out, stderr)
    assert {"ruleEngine", "videoSource", "device"} <= set(out["topicSet"])
    topics = out["topics"]
    initial = {t["topic"] for t in topics if t["operation"] == "Initialized"}
    assert {"tns1:RuleEngine/CellMotionDetector/Motion", "tns1:Device/Trigger/DigitalInput"} <= initial
    changed = [(t["topic"], t["name"], t["value"]) for t in topics if t["operation"] == "Changed"]
    assert ("tns1:RuleEngine/TamperDetector/Tamper", "IsTamper", "true") in changed
    # cam3's clip moves: its motion goes on every 10 s
    assert ("tns1:RuleEngine/CellMotionDetector/Motion", "IsMotion", "true") in changed


def test_wrong_password_is_a_not_authorized_fault(sim: SimulatorProcess) -> None:
    out = node("connect", sim, 2, password="wrong")
    assert out["_rc"] == 1
    assert "wrong username or password" in out["error"]
    status, body = soap(sim, 2, DEVICE_INFO, ws_header("wrong", NOW(dt.UTC)))
    assert status == 400 and "ter:NotAuthorized" in body
    status, body = soap(sim, 2, DEVICE_INFO)  # no credentials at all: a Digest challenge
    assert status == 401 and "ter:NotAuthorized" in body


def test_password_text_over_http_is_refused(sim: SimulatorProcess) -> None:
    status, body = soap(sim, 2, DEVICE_INFO, ws_header(ONVIF_PASSWORD, NOW(dt.UTC), kind="PasswordText"))
    assert status == 400 and "ter:NotAuthorized" in body and "PasswordText" in body
    status, body = soap(sim, 2, DEVICE_INFO, ws_header(ONVIF_PASSWORD, NOW(dt.UTC)))
    assert status == 200 and "<tds:Model>SimCam Bullet</tds:Model>" in body


def test_usernametoken_is_checked_against_the_cameras_clock(sim: SimulatorProcess) -> None:
    sim.set_clock_offset("cam2", 3600)
    try:
        status, body = soap(sim, 2, DEVICE_INFO, ws_header(ONVIF_PASSWORD, NOW(dt.UTC)))
        assert status == 400 and "ter:NotAuthorized" in body and "camera's clock" in body
        status, body = soap(sim, 2, DEVICE_INFO, ws_header(ONVIF_PASSWORD, NOW(dt.UTC) + dt.timedelta(hours=1)))
        assert status == 200, body
        out = node("info", sim, 2)  # the npm client reads the camera's time first and follows it
        assert out["_rc"] == 0, out
        skew = dt.datetime.fromisoformat(out["time"].replace("Z", "+00:00")) - NOW(dt.UTC)
        assert abs(skew.total_seconds() - 3600) < 5
    finally:
        sim.set_clock_offset("cam2", 0)


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&e;</s:Body></s:Envelope>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&b;</s:Body></s:Envelope>',
        b"<s:Envelope><unclosed>",
        b"<x>" + b"a" * 200_000 + b"</x>",
    ],
    ids=["xxe", "entity-expansion", "malformed", "oversized"],
)
def test_hostile_xml_is_a_fault(sim: SimulatorProcess, document: bytes) -> None:
    status, body = post(sim.onvif_url(2), document)
    assert status in (400, 413) and "ter:WellFormed" in body
    assert "root:" not in body
    assert soap(sim, 2, DEVICE_INFO, ws_header(ONVIF_PASSWORD, NOW(dt.UTC)))[0] == 200  # still serving


def test_ws_discovery_multicast_with_wsdiscovery(sim: SimulatorProcess) -> None:
    wsdiscovery = pytest.importorskip("wsdiscovery.discovery")
    from wsdiscovery import QName, Scope

    client = wsdiscovery.ThreadedWSDiscovery()
    client.start()
    try:
        found = client.searchServices(
            types=[QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter")],
            scopes=[Scope("onvif://www.onvif.org/manufacturer/Ronda")],
            timeout=3,
        )
    finally:
        client.stop()
    ours = {x: s for s in found for x in s.getXAddrs() if f":{sim.onvif_port}/" in x}
    assert set(ours) == {sim.onvif_url(n) for n in (1, 2, 3)}
    dome_scopes = {str(s) for s in ours[sim.onvif_url(1)].getScopes()}
    assert {"onvif://www.onvif.org/hardware/SimDome_PTZ", "onvif://www.onvif.org/type/ptz"} <= dome_scopes


def test_ws_discovery_unicast_probe(sim: SimulatorProcess) -> None:
    probe = (
        '<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        f"<e:Header><w:MessageID>urn:uuid:{uuid.uuid4()}</w:MessageID>"
        "<w:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>"
        "<w:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action></e:Header>"
        "<e:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types>"
        "<d:Scopes>onvif://www.onvif.org/type/ptz</d:Scopes></d:Probe></e:Body></e:Envelope>"
    )
    answers = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1.0)
        s.sendto(probe.encode(), (sim.host, 3702))
        try:
            while True:
                answers.append(s.recvfrom(65536)[0].decode())
        except TimeoutError:
            pass
    ours = [a for a in answers if f":{sim.onvif_port}/" in a]
    # only the dome has the ptz scope
    assert len(ours) == 1 and f"<wsd:XAddrs>{sim.onvif_url(1)}</wsd:XAddrs>" in ours[0]
    assert "ProbeMatches" in ours[0]


def test_a_stopped_camera_is_silent_on_onvif_too(sim: SimulatorProcess) -> None:
    sim.stop_camera("cam2")
    try:
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)) as err:
            soap(sim, 2, DEVICE_INFO, ws_header(ONVIF_PASSWORD, NOW(dt.UTC)))
        assert not isinstance(err.value, urllib.error.HTTPError)  # no answer at all, not an HTTP error
        assert soap(sim, 3, DEVICE_INFO, ws_header(ONVIF_PASSWORD, NOW(dt.UTC)))[0] == 200  # the others serve
    finally:
        sim.start_camera("cam2")
    assert soap(sim, 2, DEVICE_INFO, ws_header(ONVIF_PASSWORD, NOW(dt.UTC)))[0] == 200


def test_onvif_zeep_async_reads_the_device(sim: SimulatorProcess) -> None:
    """The library Ronda's client is built on (PyPI onvif-zeep-async, zeep's WSDL types) parses every
    answer: device, profiles and URIs, PTZ status and presets, a pull of events."""
    onvif = pytest.importorskip("onvif")
    import asyncio

    class Camera(onvif.ONVIFCamera):  # type: ignore[misc, name-defined]
        def get_definition(self, name: str, port_type: str | None = None) -> tuple[str, str, str]:
            xaddr, wsdl, binding = super().get_definition(name, port_type)
            return (sim.onvif_url(1) if name == "devicemgmt" else xaddr), wsdl, binding

    async def run() -> dict[str, Any]:
        cam = Camera(sim.host, sim.onvif_port, ONVIF_USER, ONVIF_PASSWORD, adjust_time=True)
        try:
            await cam.update_xaddrs()
            info = await (await cam.create_devicemgmt_service()).GetDeviceInformation()
            media = await cam.create_media_service()
            profiles = await media.GetProfiles()
            setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
            uri = await media.GetStreamUri({"StreamSetup": setup, "ProfileToken": profiles[1].token})
            ptz = await cam.create_ptz_service()
            position = {"PanTilt": {"x": -0.4, "y": 0.2}, "Zoom": {"x": 0.1}}
            await ptz.AbsoluteMove({"ProfileToken": "main", "Position": position})
            await asyncio.sleep(1.0)
            status = await ptz.GetStatus({"ProfileToken": "main"})
            token = await ptz.SetPreset({"ProfileToken": "main", "PresetName": "zeep"})
            presets = await ptz.GetPresets({"ProfileToken": "main"})
            await ptz.RemovePreset({"ProfileToken": "main", "PresetToken": token})
            manager = await cam.create_pullpoint_manager(dt.timedelta(seconds=60), lambda *a: None)
            pullpoint = await cam.create_pullpoint_service()
            pulled = await pullpoint.PullMessages({"MessageLimit": 20, "Timeout": dt.timedelta(seconds=2)})
            await manager.shutdown()
            return {
                "model": info.Model,
                "sizes": [(p.VideoEncoderConfiguration.Resolution.Width, p.token) for p in profiles],
                "uri": uri.Uri,
                "position": (status.Position.PanTilt.x, status.Position.PanTilt.y, status.Position.Zoom.x),
                "presets": [(p.token, p.Name) for p in presets],
                "token": token,
                "topics": {m.Topic._value_1 for m in pulled.NotificationMessage},
            }
        finally:
            await cam.close()

    out = asyncio.run(run())
    assert out["model"] == "SimDome PTZ"
    assert out["sizes"] == [(1920, "main"), (640, "sub")]
    assert out["uri"] == f"rtsp://{sim.host}:{sim.rtsp_port}/cam1/sub"
    assert out["position"] == pytest.approx((-0.4, 0.2, 0.1), abs=1e-3)
    assert (out["token"], "zeep") in out["presets"]
    assert "tns1:RuleEngine/TamperDetector/Tamper" in out["topics"]


def test_a_recording_of_the_dome_shows_a_continuous_move(sim: SimulatorProcess, tmp_path: Path) -> None:
    """Recorded as the recorder does (stream copy into MP4), the frames show the pan changing."""
    ptz = "http://www.onvif.org/ver20/ptz/wsdl"
    tt = "http://www.onvif.org/ver10/schema"
    home = f'<Position><PanTilt xmlns="{tt}" x="-0.5" y="0"/><Zoom xmlns="{tt}" x="0.5"/></Position>'
    assert soap(sim, 1, f'<AbsoluteMove xmlns="{ptz}"><ProfileToken>sub</ProfileToken>{home}</AbsoluteMove>',
                ws_header(ONVIF_PASSWORD, NOW(dt.UTC)), "ptz")[0] == 200  # fmt: skip
    time.sleep(1.5)
    out = tmp_path / "dome.mp4"
    url = f"rtsp://{sim.host}:{sim.rtsp_port}/cam1/sub"
    rec = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", *TCP, "-i", url, "-c", "copy", "-t", "6", str(out)])
    time.sleep(2)
    move = f'<Velocity><PanTilt xmlns="{tt}" x="0.25" y="0"/></Velocity><Timeout>PT2S</Timeout>'
    body = f'<ContinuousMove xmlns="{ptz}"><ProfileToken>sub</ProfileToken>{move}</ContinuousMove>'
    assert soap(sim, 1, body, ws_header(ONVIF_PASSWORD, NOW(dt.UTC)), "ptz")[0] == 200
    assert rec.wait(timeout=30) == 0
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(out), "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"]
    luma = subprocess.run(cmd, capture_output=True, timeout=30, check=True).stdout
    n = 640 * 360
    pans = [p.pan for i in range(len(luma) // n) if (p := read_position_code(luma[i * n : (i + 1) * n], 640))]
    assert len(pans) > 60, len(pans)  # ~90 frames, nearly all readable
    assert pans[0] == pytest.approx(-0.5, abs=1e-3)
    assert pans[-1] == pytest.approx(0.5, abs=0.1)  # 2 s at 0.25 x 2 units/s = +1
    assert all(b >= a - 1e-3 for a, b in zip(pans, pans[1:], strict=False))  # moved one way, step by step
    assert len({round(p, 2) for p in pans}) > 10
