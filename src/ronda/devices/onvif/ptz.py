"""``OnvifPtz``: the ``devices.ptz.PtzDriver`` of an ONVIF dome (PTZ service, generic spaces).

Positions are clamped to the device's limits and speeds to -1..1 before they leave; a value that is
not a number is refused (``Invalid``). Every call is bounded by the device connection.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from ronda.devices.onvif.client import OnvifDevice
from ronda.devices.onvif.probe import parse_profile, ptz_limits
from ronda.devices.ptz import PtzLimits, PtzPosition, PtzPreset
from ronda.errors import DeviceError, Invalid

_NAME_MAX = 64


def _finite(v: float, what: str) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise Invalid(f"{what} must be a number") from None
    if not math.isfinite(f):
        raise Invalid(f"{what} must be a finite number")
    return f


def _clamp(v: float, lo_hi: tuple[float, float], what: str) -> float:
    return min(max(_finite(v, what), lo_hi[0]), lo_hi[1])


def _speed(v: float, what: str) -> float:
    return _clamp(v, (-1.0, 1.0), what)


def _vector(pan: float, tilt: float, zoom: float) -> dict[str, Any]:
    return {"PanTilt": {"x": pan, "y": tilt}, "Zoom": {"x": zoom}}


def _num(v: Any, default: float = 0.0) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    return f if math.isfinite(f) else default


def _position(p: Any) -> PtzPosition | None:
    if p is None:
        return None
    pt, z = getattr(p, "PanTilt", None), getattr(p, "Zoom", None)
    if pt is None and z is None:
        return None
    return PtzPosition(pan=_num(getattr(pt, "x", 0)), tilt=_num(getattr(pt, "y", 0)), zoom=_num(getattr(z, "x", 0)))


def preset_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name or len(name) > _NAME_MAX or any(ord(c) < 0x20 for c in name):
        raise Invalid(f"a preset name is 1 to {_NAME_MAX} printable characters")
    return name


class OnvifPtz:
    """PTZ commands to one profile of one device (``DeviceInfo.ptz_profile``)."""

    def __init__(self, device: OnvifDevice, profile_token: str, limits: PtzLimits | None = None) -> None:
        self.device = device
        self.profile = profile_token
        self._limits = limits

    async def _call(self, operation: str, **params: Any) -> Any:
        return await self.device.call("ptz", operation, {"ProfileToken": self.profile, **params})

    async def limits(self) -> PtzLimits:
        if self._limits is None:
            try:
                prof = parse_profile(await self.device.call("media", "GetProfile", {"ProfileToken": self.profile}))
            except DeviceError:
                prof = None  # the generic spaces' whole range; the device clamps what it cannot reach
            self._limits = await ptz_limits(self.device, prof) if prof is not None else PtzLimits()
        return self._limits

    async def continuous(self, pan: float, tilt: float, zoom: float, timeout_s: float | None = None) -> None:
        params: dict[str, Any] = {"Velocity": _vector(_speed(pan, "pan"), _speed(tilt, "tilt"), _speed(zoom, "zoom"))}
        if timeout_s is not None:
            secs = _clamp(timeout_s, (0.1, 3600.0), "timeout")
            params["Timeout"] = dt.timedelta(seconds=secs)
        await self._call("ContinuousMove", **params)

    async def relative(self, pan: float, tilt: float, zoom: float) -> None:
        # A translation spans at most the whole range (2 for pan and tilt, 1 for zoom).
        t = _vector(
            _clamp(pan, (-2.0, 2.0), "pan"), _clamp(tilt, (-2.0, 2.0), "tilt"), _clamp(zoom, (-1.0, 1.0), "zoom")
        )
        await self._call("RelativeMove", Translation=t)

    async def absolute(self, position: PtzPosition) -> None:
        lim = await self.limits()
        p = _vector(
            _clamp(position.pan, lim.pan, "pan"),
            _clamp(position.tilt, lim.tilt, "tilt"),
            _clamp(position.zoom, lim.zoom, "zoom"),
        )
        await self._call("AbsoluteMove", Position=p)

    async def stop(self) -> None:
        await self._call("Stop", PanTilt=True, Zoom=True)

    async def status(self) -> PtzPosition:
        r = await self._call("GetStatus")
        pos = _position(getattr(r, "Position", None))
        if pos is None:
            raise DeviceError("the device did not give its PTZ position")
        return pos

    async def presets(self) -> list[PtzPreset]:
        r = await self._call("GetPresets")
        out = []
        for p in r or []:
            token = str(getattr(p, "token", "") or "").strip()
            if token:
                name = " ".join(str(getattr(p, "Name", None) or token).split())[:_NAME_MAX]
                out.append(
                    PtzPreset(token=token[:_NAME_MAX], name=name, position=_position(getattr(p, "PTZPosition", None)))
                )
        return out

    async def goto_preset(self, token: str) -> None:
        await self._call("GotoPreset", PresetToken=str(token))

    async def set_preset(self, name: str, token: str | None = None) -> str:
        params: dict[str, Any] = {"PresetName": preset_name(name)}
        if token is not None:
            params["PresetToken"] = str(token)
        r = await self._call("SetPreset", **params)
        got = str(r if isinstance(r, str) else getattr(r, "PresetToken", None) or token or "").strip()
        if not got:
            raise DeviceError("the device did not give the new preset's token")
        return got

    async def remove_preset(self, token: str) -> None:
        await self._call("RemovePreset", PresetToken=str(token))

    async def home(self) -> None:
        await self._call("GotoHomePosition")

    async def set_home(self) -> None:
        await self._call("SetHomePosition")
