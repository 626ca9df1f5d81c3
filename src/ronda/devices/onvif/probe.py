"""Reading what a camera is and offers: identity, media profiles and stream URIs, snapshot URI, PTZ.

Tolerant of what cameras send (optional elements missing, vendor extensions, profiles without a
video encoder); strict about where Ronda will later connect: a stream URI must be RTSP on the
device's own host, or the camera is refused with a reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ronda.devices.onvif.client import OnvifDevice
from ronda.devices.onvif.transport import same_host
from ronda.devices.ptz import PtzLimits
from ronda.devices.urls import CameraUrlError, validate_camera_url
from ronda.errors import DeviceError

log = logging.getLogger("ronda.onvif")

_VIDEO_CODECS = {"H264": "h264", "H265": "hevc", "HEVC": "hevc", "JPEG": "mjpeg", "MPEG4": "mpeg4"}


@dataclass(frozen=True, slots=True)
class MediaProfile:
    token: str
    name: str
    codec: str | None
    width: int | None
    height: int | None
    fps: float | None
    stream_uri: str | None = None
    ptz_config: str | None = None  # the PTZ configuration token, when the profile has one
    ptz_node: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    address: str
    manufacturer: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    profiles: list[MediaProfile] = field(default_factory=list)
    main: MediaProfile | None = None
    sub: MediaProfile | None = None
    snapshot_uri: str | None = None
    ptz: bool = False
    ptz_profile: str | None = None
    ptz_limits: PtzLimits | None = None
    clock_offset_s: float | None = None

    def summary(self) -> dict[str, Any]:
        """What Ronda stores with the camera (JSON): identity, profile tokens, PTZ limits."""
        limits = self.ptz_limits
        return {
            "manufacturer": self.manufacturer,
            "model": self.model,
            "firmware": self.firmware,
            "serial": self.serial,
            "profiles": {k: p.token for k, p in (("main", self.main), ("sub", self.sub)) if p is not None},
            "snapshot_uri": self.snapshot_uri,
            "ptz_profile": self.ptz_profile,
            "ptz_limits": None
            if limits is None
            else {
                "pan": list(limits.pan),
                "tilt": list(limits.tilt),
                "zoom": list(limits.zoom),
                "max_presets": limits.max_presets,
                "home_supported": limits.home_supported,
            },
            "clock_offset_s": self.clock_offset_s,
        }


def _text(v: Any, n: int = 200) -> str | None:
    if v is None:
        return None
    s = " ".join(str(v).split())[:n]
    return s or None


def _get(obj: Any, *path: str) -> Any:
    """``obj.a.b.c`` or None when any step is missing (cameras leave optional elements out)."""
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and abs(f) < 1e9 else None


def parse_profile(p: Any) -> MediaProfile | None:
    token = _text(_get(p, "token"))
    if not token:
        return None
    enc = _get(p, "VideoEncoderConfiguration")
    codec = _text(_get(enc, "Encoding"))
    width, height = _num(_get(enc, "Resolution", "Width")), _num(_get(enc, "Resolution", "Height"))
    return MediaProfile(
        token=token,
        name=_text(_get(p, "Name")) or token,
        codec=_VIDEO_CODECS.get((codec or "").upper(), codec.lower() if codec else None),
        width=int(width) if width else None,
        height=int(height) if height else None,
        fps=_num(_get(enc, "RateControl", "FrameRateLimit")),
        ptz_config=_text(_get(p, "PTZConfiguration", "token")),
        ptz_node=_text(_get(p, "PTZConfiguration", "NodeToken")),
    )


def choose_streams(profiles: list[MediaProfile]) -> tuple[MediaProfile | None, MediaProfile | None]:
    """Main = the highest resolution (a recordable codec before MJPEG), sub = the next one."""
    video = [p for p in profiles if p.codec is not None or p.width is not None]

    def key(p: MediaProfile) -> tuple[int, int, float]:
        return (0 if p.codec == "mjpeg" else 1, (p.width or 0) * (p.height or 0), p.fps or 0.0)

    ranked = sorted(video, key=key, reverse=True)
    main = ranked[0] if ranked else None
    sub = next((p for p in ranked[1:] if p.codec != "mjpeg"), None)
    return main, sub


def checked_stream_uri(uri: Any, device_url: str) -> str:
    """The RTSP URI a camera gave, if Ronda may record it: rtsp(s) on the device's own host, no
    credentials inside. Raises ``DeviceError`` otherwise (before any connection is made to it)."""
    text = _text(uri, 2048)
    if not text:
        raise DeviceError("the device gave no stream URI")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise DeviceError("the device gave a malformed stream URI") from None
    if parts.scheme.lower() not in ("rtsp", "rtsps"):
        raise DeviceError(
            f"the device gave a stream URI with scheme {parts.scheme or '(none)'!r}; only rtsp:// is used"
        )
    host = (parts.hostname or "").lower()
    if host != (urlsplit(device_url).hostname or "").lower():
        raise DeviceError(f"the device gave a stream URI on another host ({host or 'none'}); Ronda does not follow it")
    netloc = parts.netloc.rpartition("@")[2]  # credentials go in the camera's own fields
    try:
        return validate_camera_url(urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, "")))
    except CameraUrlError as e:
        raise DeviceError(f"the device gave a stream URI Ronda cannot use: {e}") from None


async def stream_uri(dev: OnvifDevice, token: str) -> str:
    setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
    r = await dev.call("media", "GetStreamUri", {"StreamSetup": setup, "ProfileToken": token})
    return checked_stream_uri(_get(r, "Uri"), dev.url)


async def _snapshot_uri(dev: OnvifDevice, token: str) -> str | None:
    try:
        r = await dev.call("media", "GetSnapshotUri", {"ProfileToken": token})
    except DeviceError as e:
        log.info("%s: no snapshot URI (%s)", dev.url, e)
        return None
    return same_host(_text(_get(r, "Uri"), 2048), dev.url)


def _range(space: Any, axis: str, default: tuple[float, float]) -> tuple[float, float]:
    lo, hi = _num(_get(space, axis, "Min")), _num(_get(space, axis, "Max"))
    return (lo, hi) if lo is not None and hi is not None and lo <= hi else default


async def ptz_limits(dev: OnvifDevice, profile: MediaProfile) -> PtzLimits:
    """The generic-space ranges of a profile's PTZ configuration and node; defaults when not given."""
    pan, tilt, zoom = (-1.0, 1.0), (-1.0, 1.0), (0.0, 1.0)
    max_presets: int | None = None
    home = True
    if profile.ptz_config:
        try:
            opts = await dev.call("ptz", "GetConfigurationOptions", {"ConfigurationToken": profile.ptz_config})
            pt = (_get(opts, "Spaces", "AbsolutePanTiltPositionSpace") or [None])[0]
            zs = (_get(opts, "Spaces", "AbsoluteZoomPositionSpace") or [None])[0]
            pan, tilt, zoom = _range(pt, "XRange", pan), _range(pt, "YRange", tilt), _range(zs, "XRange", zoom)
        except DeviceError as e:
            log.info("%s: PTZ configuration options not read (%s)", dev.url, e)
    if profile.ptz_node:
        try:
            node = await dev.call("ptz", "GetNode", {"NodeToken": profile.ptz_node})
            n = _num(_get(node, "MaximumNumberOfPresets"))
            max_presets = int(n) if n is not None and n >= 0 else None
            home = _get(node, "HomeSupported") is not False
        except DeviceError as e:
            log.info("%s: PTZ node not read (%s)", dev.url, e)
    return PtzLimits(pan=pan, tilt=tilt, zoom=zoom, max_presets=max_presets, home_supported=home)


async def list_profiles(dev: OnvifDevice) -> list[MediaProfile]:
    """The device's media profiles as it reports them now (no stream URI read)."""
    raw = await dev.call("media", "GetProfiles")
    return [p for p in (parse_profile(x) for x in (raw or [])) if p is not None]


def chosen_streams(
    profiles: list[MediaProfile], chosen: dict[str, Any] | None
) -> tuple[MediaProfile | None, MediaProfile | None]:
    """Main and sub by the tokens stored with the camera (``{"main": token, "sub": token}``, sub left out:
    no sub stream), when the device still has the main one; else chosen by resolution (``choose_streams``).
    A stored sub token the device no longer has gives no sub (the stored sub URL stays)."""
    by_token = {p.token: p for p in profiles}
    main = by_token.get(str((chosen or {}).get("main") or ""))
    if main is None:
        return choose_streams(profiles)
    sub_token = (chosen or {}).get("sub")
    return main, by_token.get(str(sub_token)) if sub_token else None


async def read_profiles(
    dev: OnvifDevice, chosen: dict[str, Any] | None = None
) -> tuple[MediaProfile | None, MediaProfile | None, list[MediaProfile]]:
    """The media profiles, and main and sub with their checked stream URIs (a reconnect calls this
    again: a camera's URIs may change after a reboot). ``chosen``: the profile tokens stored with the
    camera (``chosen_streams``)."""
    profiles = await list_profiles(dev)
    main, sub = chosen_streams(profiles, chosen)
    if main is None:
        raise DeviceError("the device has no video profile")
    main = with_uri(main, await stream_uri(dev, main.token))
    if sub is not None:
        sub = with_uri(sub, await stream_uri(dev, sub.token))
    return main, sub, profiles


def with_uri(p: MediaProfile, uri: str) -> MediaProfile:
    return MediaProfile(p.token, p.name, p.codec, p.width, p.height, p.fps, uri, p.ptz_config, p.ptz_node)


async def probe_device(address: str, username: str | None, password: str | None, timeout_s: float = 8.0) -> DeviceInfo:
    """Everything Ronda needs to add the camera at ``address``; ``DeviceError`` with the reason when the
    device fails or answers badly."""
    async with OnvifDevice(address, username, password, timeout_s) as dev:
        info = await dev.call("devicemgmt", "GetDeviceInformation")
        main, sub, profiles = await read_profiles(dev)
        assert main is not None
        snapshot = await _snapshot_uri(dev, main.token)
        ptz_profile = next((p for p in (main, sub, *profiles) if p is not None and p.ptz_config), None)
        ptz = ptz_profile is not None and dev.supports("ptz")
        limits = await ptz_limits(dev, ptz_profile) if ptz and ptz_profile is not None else None
        return DeviceInfo(
            address=dev.url,
            manufacturer=_text(_get(info, "Manufacturer")),
            model=_text(_get(info, "Model")),
            firmware=_text(_get(info, "FirmwareVersion")),
            serial=_text(_get(info, "SerialNumber")),
            profiles=profiles,
            main=main,
            sub=sub,
            snapshot_uri=snapshot,
            ptz=ptz,
            ptz_profile=ptz_profile.token if ptz and ptz_profile is not None else None,
            ptz_limits=limits,
            clock_offset_s=dev.clock_offset_s,
        )
