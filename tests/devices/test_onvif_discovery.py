"""WS-Discovery: unicast probes to an address list/range against a small responder whose answers are made
by the ``wsdiscovery`` package (as a camera's would be), and the target parser's limits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from wsdiscovery.actions import constructProbeMatch
from wsdiscovery.message import createSOAPMessage, parseSOAPMessage
from wsdiscovery.qname import QName
from wsdiscovery.scope import Scope
from wsdiscovery.service import Service

from ronda.devices.onvif.discovery import MAX_HOSTS, discover, parse_matches, parse_targets

NVT = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")


class Camera(asyncio.DatagramProtocol):
    """Answers a Probe with one ProbeMatch per device it stands for (a recorder with several cameras)."""

    def __init__(self, devices: list[tuple[str, list[str]]]) -> None:
        self.devices = devices
        self.probes = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        env = parseSOAPMessage(data, addr[0])
        if env is None or not env.getAction().endswith("/Probe"):
            return
        self.probes += 1
        for i, (xaddr, scopes) in enumerate(self.devices):
            svc = Service(
                [NVT], [Scope(s) for s in scopes], [xaddr], f"urn:uuid:00000000-0000-0000-0000-00000000000{i}", 1
            )
            self.transport.sendto(str(createSOAPMessage(constructProbeMatch([svc], env.getMessageId()))).encode(), addr)


async def start_camera(devices: list[tuple[str, list[str]]]) -> tuple[Any, Camera, int]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: Camera(devices), local_addr=("127.0.0.1", 0))
    return transport, proto, transport.get_extra_info("socket").getsockname()[1]


async def test_unicast_probe_finds_devices() -> None:
    devices = [
        ("http://127.0.0.1:8001/onvif/device_service", [
            "onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/hardware/P3245-LVE",
            "onvif://www.onvif.org/name/AXIS%20P3245-LVE", "onvif://www.onvif.org/manufacturer/AXIS"]),
        ("http://10.0.0.9/onvif/device_service http://127.0.0.1:8002/onvif/device_service", [
            "onvif://www.onvif.org/hardware/DS-2DE4425IW-DE", "onvif://www.onvif.org/name/HIKVISION_DS-2DE4425IW-DE"]),
    ]  # fmt: skip
    transport, cam, port = await start_camera(devices)
    try:
        started = time.monotonic()
        found = await discover(parse_targets([f"127.0.0.1:{port}"]), multicast=False, timeout_s=0.5)
        assert time.monotonic() - started < 1.5
    finally:
        transport.close()
    assert cam.probes == 1
    assert [(d.address, d.manufacturer, d.model) for d in found] == [
        ("http://127.0.0.1:8001/onvif/device_service", "AXIS", "P3245-LVE"),
        ("http://127.0.0.1:8002/onvif/device_service", None, "DS-2DE4425IW-DE"),  # the XAddr on the answering address
    ]
    assert found[1].name == "HIKVISION DS-2DE4425IW-DE"


async def test_silent_range_ends_in_time() -> None:
    started = time.monotonic()
    found = await discover(parse_targets(["127.0.0.0/24"]), multicast=False, timeout_s=0.5)
    assert found == [] and time.monotonic() - started < 2


def test_targets() -> None:
    assert parse_targets("10.0.0.1, 10.0.0.2:3703") == [("10.0.0.1", 3702), ("10.0.0.2", 3703)]
    assert len(parse_targets("10.1.0.0/22")) == 1022
    assert parse_targets("10.0.0.250-10.0.1.1")[-1] == ("10.0.1.1", 3702)
    for bad, why in [("10.0.0.0/20", "more than"), ("10.0.0.0/22 10.0.8.0/24", "at most"), ("cam.local", "not an IP"),
                     ("10.0.0.9-10.0.0.1", "range"), ("10.0.0.1:0", "port"), ("::1", "not an IP")]:  # fmt: skip
        with pytest.raises(ValueError, match=why):
            parse_targets(bad)
    assert MAX_HOSTS == 1024


def test_hostile_datagrams_are_ignored() -> None:
    laughs = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><e>&b;</e>'
    assert parse_matches(laughs, "127.0.0.1") == []
    assert parse_matches(b"\x00\xffnot xml", "127.0.0.1") == []
    assert parse_matches(b"<a>" * 70_000, "127.0.0.1") == []
