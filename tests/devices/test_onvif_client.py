"""Ronda's ONVIF client against a local responder that answers as Axis, Hikvision, Dahua and generic
cameras do (tests/devices/onvif_fixtures), and against hostile ones."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from ronda.devices.onvif.client import OnvifDevice, device_url
from ronda.devices.onvif.events import PullPoint, event_type, normalise_topic
from ronda.devices.onvif.probe import probe_device
from ronda.devices.onvif.ptz import OnvifPtz
from ronda.devices.ptz import PtzDriver, PtzPosition
from ronda.errors import DeviceError, Invalid
from tests.devices.onvif_responder import FIXTURES, Responder, endless, soap, stall

Factory = Callable[..., Awaitable[Responder]]
HOSTILE = FIXTURES / "hostile"


@pytest.fixture
async def responder() -> AsyncIterator[Factory]:
    started: list[Responder] = []

    async def make(**kw: Any) -> Responder:
        r = await Responder(**kw).start()
        started.append(r)
        return r

    yield make
    for r in started:
        await r.stop()


async def probe(r: Responder, password: str | None = None, timeout_s: float = 5.0) -> Any:
    return await probe_device(r.address, r.username, password or r.password, timeout_s=timeout_s)


# --- cameras as they are ------------------------------------------------------------------------------
async def test_generic_camera(responder: Factory) -> None:
    r = await responder()
    info = await probe(r)
    assert (info.manufacturer, info.model, info.firmware, info.serial) == ("Generic", "IPC-100", "1.0.3", "GEN0001")
    assert info.main is not None and info.sub is not None
    assert (info.main.token, info.main.codec, info.main.width, info.main.height, info.main.fps) == (
        "main",
        "h264",
        1920,
        1080,
        25.0,
    )
    assert info.main.stream_uri == "rtsp://127.0.0.1:8554/main"
    assert (info.sub.token, info.sub.width, info.sub.stream_uri) == ("sub", 640, "rtsp://127.0.0.1:8554/sub")
    assert info.snapshot_uri == f"{r.base}/snapshot/main.jpg"
    assert info.ptz and info.ptz_profile == "main"
    assert info.ptz_limits is not None and info.ptz_limits.tilt == (-1.0, 0.2) and info.ptz_limits.max_presets == 128
    assert info.clock_offset_s is not None and abs(info.clock_offset_s) < 2
    # WS-UsernameToken with the password digest, never the password itself.
    body = r.body_of("GetDeviceInformation")
    assert b"#PasswordDigest" in body and r.password.encode() not in body


async def test_axis_every_request_authenticated_vendor_extensions_nat_addresses(responder: Factory) -> None:
    r = await responder(vendor="axis", public=())
    info = await probe(r)
    assert (info.manufacturer, info.model, info.firmware) == ("AXIS", "P3245-LVE", "10.12.182")
    assert info.main is not None and info.main.token == "profile_1_h264"  # H.264 before the JPEG profile
    assert info.sub is not None and info.sub.token == "profile_2_h264"
    assert info.main.stream_uri == (
        "rtsp://127.0.0.1/onvif-media/media.amp?profile=profile_1_h264&sessiontimeout=60&streamtype=unicast"
    )
    # The camera advertised its LAN address (192.168.0.90): requests stayed on the address Ronda was given.
    assert info.snapshot_uri is not None and info.snapshot_uri.startswith(r.base + "/onvif-cgi/")
    assert not info.ptz and info.ptz_limits is None
    assert r.ops()[:2] == ["GetSystemDateAndTime", "GetSystemDateAndTime"]  # refused without, then with credentials


async def test_hikvision_dome(responder: Factory) -> None:
    r = await responder(vendor="hikvision")
    info = await probe(r)
    assert (info.manufacturer, info.model) == ("HIKVISION", "DS-2DE4425IW-DE")
    assert info.main is not None and (info.main.width, info.main.height) == (2560, 1440)
    assert info.sub is not None and (info.sub.width, info.sub.height) == (704, 576)
    assert info.ptz and info.ptz_profile == "Profile_1"
    assert info.ptz_limits is not None and info.ptz_limits.max_presets == 300


async def test_dahua_no_getservices_local_time_missing_elements_http_digest(responder: Factory) -> None:
    r = await responder(vendor="dahua", auth="digest")
    info = await probe(r)
    assert (info.manufacturer, info.firmware) == ("Dahua", "2.800.0000000.25.R, Build Date 2021-06-30")
    assert "GetCapabilities" in r.ops()  # GetServices answered with a SOAP 1.2 fault
    assert info.main is not None and (info.main.width, info.main.fps) == (2688, 20.0)
    assert info.sub is not None and info.sub.fps is None  # no RateControl
    assert info.snapshot_uri is None  # a fault: the camera is still added
    assert info.clock_offset_s is not None and abs(info.clock_offset_s) < 2  # from LocalDateTime


async def test_http_digest_wrong_password(responder: Factory) -> None:
    r = await responder(vendor="dahua", auth="digest")
    with pytest.raises(DeviceError, match="refused the credentials"):
        await probe(r, password="wrong")  # noqa: S106


async def test_wsse_wrong_password(responder: Factory) -> None:
    r = await responder()
    with pytest.raises(DeviceError, match="refused the credentials"):
        await probe(r, password="wrong")  # noqa: S106


async def test_clock_skew_of_an_hour_is_applied_and_logged(
    responder: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    r = await responder(skew_s=3600)
    with caplog.at_level(logging.WARNING, logger="ronda.onvif"):
        info = await probe(r)
    assert info.clock_offset_s is not None and abs(info.clock_offset_s - 3600) < 2
    assert any(re.search(r"clock is \+(3599|3600|3601) s off", m) for m in caplog.messages)
    # Without the offset the camera refuses the token: the responder does check the time.
    r2 = await responder(skew_s=-3600, public=())
    with pytest.raises(DeviceError, match="refused the credentials"):
        await probe(r2)


# --- PTZ --------------------------------------------------------------------------------------------
async def test_ptz_commands(responder: Factory) -> None:
    r = await responder(vendor="hikvision")
    async with OnvifDevice(r.address, r.username, r.password) as dev:
        ptz: PtzDriver = OnvifPtz(dev, "Profile_1")
        await ptz.continuous(0.5, -3.0, 0.1, timeout_s=2)
        body = r.body_of("ContinuousMove")
        assert b'x="0.5" y="-1.0"' in body and b"<ns0:Timeout>PT2S</ns0:Timeout>" in body  # speed clamped
        await ptz.absolute(PtzPosition(0.3, 0.9, 0.5))
        assert b'x="0.3" y="0.2"' in r.body_of("AbsoluteMove")  # tilt clamped to the dome's limit
        await ptz.relative(0.1, 0.0, -0.1)
        await ptz.stop()
        assert await ptz.status() == PtzPosition(0.5, -0.25, 0.1)
        presets = await ptz.presets()
        assert [(p.token, p.name) for p in presets] == [("1", "Gate"), ("2", "Square")]
        assert presets[0].position == PtzPosition(0.25, -0.1, 0.5)
        assert await ptz.set_preset("North gate") == "7"
        await ptz.goto_preset("1")
        await ptz.remove_preset("7")
        await ptz.home()
        await ptz.set_home()
        assert (await ptz.limits()).max_presets == 300
        with pytest.raises(Invalid):
            await ptz.continuous(float("nan"), 0, 0)
        with pytest.raises(Invalid):
            await ptz.set_preset("x" * 65)
    for op in ("Stop", "GotoPreset", "RemovePreset", "GotoHomePosition", "SetHomePosition", "RelativeMove"):
        assert op in r.ops()


async def test_ptz_fault_is_a_device_error(responder: Factory) -> None:
    r = await responder(vendor="axis")  # no PTZ service
    async with OnvifDevice(r.address, r.username, r.password) as dev:
        with pytest.raises(DeviceError):
            await OnvifPtz(dev, "profile_1_h264").stop()


# --- events -----------------------------------------------------------------------------------------
async def pull(r: Responder, n: int, **kw: Any) -> list[Any]:
    out = []
    async with OnvifDevice(r.address, r.username, r.password) as dev:
        events = PullPoint(dev, pull_timeout_s=1, **kw).events()
        async for ev in events:
            out.append(ev)
            if len(out) == n:
                break
        await events.aclose()
    return out


async def test_event_pull_generic(responder: Factory) -> None:
    r = await responder()
    evs = await pull(r, 4)
    assert [e.type for e in evs] == [
        "motion.start",
        "tamper.covered",
        "input.active",
        "onvif.monitoring.processorusage",
    ]
    assert evs[2].source == {"InputToken": "DI_0"} and evs[3].data == {"Value": "42.5"}
    assert abs(evs[0].time_ms / 1000 - time.time()) < 5
    assert evs[3].payload()["topic"] == "tns1:Monitoring/ProcessorUsage"
    assert r.ops()[-1] == "Unsubscribe"


async def test_event_pull_vendors(responder: Factory) -> None:
    axis = await pull(await responder(vendor="axis", public=()), 3)
    assert [e.type for e in axis] == ["motion.start", "motion.end", "input.active"]  # "1"/"0" states
    hik = await pull(await responder(vendor="hikvision"), 3)
    assert [e.type for e in hik] == ["motion.start", "input.inactive", "tamper.covered"]
    dahua = await pull(await responder(vendor="dahua", auth="digest"), 2)
    assert [(e.type, e.topic) for e in dahua] == [
        ("motion.end", "tns1:RuleEngine/CellMotionDetector/Motion"),
        ("input.active", "tns1:Device/Trigger/DigitalInput"),
    ]


async def test_event_pull_renews_and_resubscribes_after_a_reboot(responder: Factory) -> None:
    r = await responder()
    fails = {"n": 0}

    async def reboot_once(request: web.Request, body: bytes) -> web.StreamResponse:
        if fails["n"] == 0:  # the camera rebooted: the subscription is gone
            fails["n"] += 1
            return web.Response(status=500, text="subscription unknown")
        await asyncio.sleep(0.3)
        return soap(r.render("PullMessages"))

    r.overrides["PullMessages"] = reboot_once
    evs = await pull(r, 12, subscription_s=1, retry_max_s=0.1)
    assert len(evs) == 12
    assert r.ops().count("CreatePullPointSubscription") == 2
    assert r.ops().count("GetSystemDateAndTime") == 2  # reconnected: the clock is read again
    assert "Renew" in r.ops()


def test_topic_mapping() -> None:
    assert normalise_topic("ns3:RuleEngine/CellMotionDetector/Motion") == "tns1:RuleEngine/CellMotionDetector/Motion"
    assert normalise_topic("tnsaxis:CameraApplicationPlatform/VMD/X") == "tnsaxis:CameraApplicationPlatform/VMD/X"
    assert event_type("tns1:VideoSource/ImageTooBlurry/ImagingService", True) == "tamper.defocused"
    assert event_type("tns1:VideoSource/GlobalSceneChange/AnalyticsService", True) == "tamper.moved"
    assert event_type("tns1:VideoSource/ImageTooDark/AnalyticsService", False) is None
    assert event_type("tns1:RuleEngine/LineDetector/Crossed", None) == "onvif.ruleengine.linedetector.crossed"
    assert event_type("tns1:A/B/C/D/E", None) == "onvif.c.d.e"


# --- hostile and broken devices -----------------------------------------------------------------------
def hostile(name: str, **fmt: str) -> bytes:
    text = (HOSTILE / name).read_text()
    for k, v in fmt.items():
        text = text.replace("{" + k + "}", v)
    return text.encode()


async def test_billion_laughs_refused(responder: Factory) -> None:
    r = await responder()
    r.overrides["GetDeviceInformation"] = hostile("billion_laughs.xml")
    with pytest.raises(DeviceError, match="DTD or entity declarations"):
        await probe(r)


async def test_external_entity_refused_nothing_read_from_disk(responder: Factory) -> None:
    r = await responder()
    r.overrides["GetDeviceInformation"] = hostile("xxe_file.xml")
    with pytest.raises(DeviceError, match="DTD or entity declarations") as e:
        await probe(r)
    assert "root:" not in str(e.value)


async def test_external_dtd_not_fetched(responder: Factory) -> None:
    evil = await responder()  # a second server: any request there would be a fetch of the DTD
    r = await responder()
    r.overrides["GetDeviceInformation"] = hostile("external_dtd.xml", evil=evil.base)
    with pytest.raises(DeviceError, match="DTD"):
        await probe(r)
    assert evil.requests == []


async def test_xinclude_not_processed(responder: Factory) -> None:
    r = await responder()
    r.overrides["GetDeviceInformation"] = hostile("xinclude.xml")
    try:
        info = await probe(r)
    except DeviceError:
        return
    assert "root:" not in (info.manufacturer or "")


@pytest.mark.parametrize("body", ["malformed.xml", "html_error.html"])
async def test_malformed_answer(responder: Factory, body: str) -> None:
    r = await responder()
    data = (HOSTILE / body).read_bytes()

    async def send(request: web.Request, _: bytes) -> web.StreamResponse:
        return web.Response(body=data, status=500 if body.endswith("html") else 200, content_type="text/html")

    r.overrides["GetDeviceInformation"] = send
    with pytest.raises(DeviceError, match="malformed XML" if body.endswith("xml") else "answered HTTP 500"):
        await probe(r)


async def test_fifty_megabyte_answer_is_cut_off(responder: Factory) -> None:
    r = await responder()
    r.overrides["GetProfiles"] = endless
    started = time.monotonic()
    with pytest.raises(DeviceError, match="too large"):
        await probe(r)
    assert time.monotonic() - started < 5


async def test_stalled_device_times_out(responder: Factory) -> None:
    r = await responder()
    r.overrides["GetDeviceInformation"] = stall
    started = time.monotonic()
    with pytest.raises(DeviceError, match="did not answer in time"):
        await probe(r, timeout_s=1.0)
    assert time.monotonic() - started < 3


async def test_unreachable_address() -> None:
    from tests.helpers import free_port

    with pytest.raises(DeviceError, match="cannot connect"):
        await probe_device(f"127.0.0.1:{free_port()}", "u", "p", timeout_s=2)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("http://127.0.0.1/stream", "scheme 'http'"),
        ("rtsp://10.66.66.66:554/stream", "another host"),
        ("rtsp://127.0.0.1/a b", "cannot use"),
    ],
)
async def test_stream_uri_must_be_rtsp_on_the_device(responder: Factory, uri: str, reason: str) -> None:
    r = await responder()
    r.overrides["GetStreamUri"] = (
        '<trt:GetStreamUriResponse xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
        f'xmlns:tt="http://www.onvif.org/ver10/schema"><trt:MediaUri><tt:Uri>{uri}</tt:Uri></trt:MediaUri>'
        "</trt:GetStreamUriResponse>"
    ).encode()
    with pytest.raises(DeviceError, match=reason):
        await probe(r)


async def test_stream_uri_credentials_are_dropped(responder: Factory) -> None:
    r = await responder()
    r.overrides["GetStreamUri"] = (
        b'<trt:GetStreamUriResponse xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
        b'xmlns:tt="http://www.onvif.org/ver10/schema"><trt:MediaUri><tt:Uri>rtsp://admin:pw@127.0.0.1:554/live'
        b"</tt:Uri></trt:MediaUri></trt:GetStreamUriResponse>"
    )
    info = await probe(r)
    assert info.main is not None and info.main.stream_uri == "rtsp://127.0.0.1:554/live"


def test_device_address_forms() -> None:
    assert device_url("10.0.0.5") == "http://10.0.0.5/onvif/device_service"
    assert device_url("cam.example:8080") == "http://cam.example:8080/onvif/device_service"
    assert device_url("http://127.0.0.1:8000/onvif/3/device_service") == "http://127.0.0.1:8000/onvif/3/device_service"
    for bad in ("", "ftp://x/", "http://u:p@host/", "a b", "http://bad_host!/"):
        with pytest.raises(ValueError):
            device_url(bad)


async def test_no_task_or_session_left_behind(responder: Factory) -> None:
    r = await responder()
    before = len(asyncio.all_tasks())
    for _ in range(3):
        await probe(r)
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) <= before
