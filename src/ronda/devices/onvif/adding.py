"""Adding a camera by ONVIF, and reading its profiles again when it reconnects.

``camera_from_onvif`` turns ``{"name", "onvif": {"address", "username", "password"}}`` into what the
registry stores: the device's main and sub stream URLs, the ONVIF credentials as the camera's
credentials, and the ONVIF record (address, device summary, PTZ flag). ``refresh_streams`` is what a
reconnect calls: the URIs a camera gives may change after a reboot.
"""

from __future__ import annotations

from typing import Any

from ronda.devices.onvif.client import OnvifDevice
from ronda.devices.onvif.probe import DeviceInfo, probe_device, read_profiles
from ronda.devices.registry import CameraCreate


async def camera_from_onvif(body: CameraCreate, timeout_s: float = 8.0) -> tuple[CameraCreate, dict[str, Any]]:
    """``(create data, onvif record)``; ``DeviceError`` with the reason when the device fails."""
    assert body.onvif is not None
    o = body.onvif
    info = await probe_device(o.address, o.username, o.password, timeout_s=timeout_s)
    return as_create(body, info), onvif_record(info)


def as_create(body: CameraCreate, info: DeviceInfo) -> CameraCreate:
    assert body.onvif is not None and info.main is not None
    data = body.model_dump(exclude={"onvif"})
    data.update(url=info.main.stream_uri, sub_url=info.sub.stream_uri if info.sub else None,
                username=body.onvif.username, password=body.onvif.password)  # fmt: skip
    return CameraCreate.model_validate(data)


def onvif_record(info: DeviceInfo) -> dict[str, Any]:
    return {"address": info.address, "info": info.summary(), "ptz": info.ptz}


async def refresh_streams(address: str, username: str | None, password: str | None,
                          timeout_s: float = 8.0, chosen: dict[str, Any] | None = None) -> dict[str, str]:  # fmt: skip
    """``{"main": url, "sub": url}`` as the device gives them now (checked as when it was added), of the
    profiles ``chosen`` (the tokens stored with the camera) while the device has them."""
    async with OnvifDevice(address, username, password, timeout_s) as dev:
        main, sub, _ = await read_profiles(dev, chosen)
    out = {}
    if main is not None and main.stream_uri:
        out["main"] = main.stream_uri
    if sub is not None and sub.stream_uri:
        out["sub"] = sub.stream_uri
    return out
