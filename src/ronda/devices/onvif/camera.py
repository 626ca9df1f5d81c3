"""A camera already added by ONVIF, for the roles that work with it: the recorder (refresh the stream
URIs when the camera reconnects: they may change after a reboot), the events role (pull the camera's
own events and store them as Ronda events), the PTZ service (a driver).

Each function reads the camera's row (address, credentials, device summary) itself, so callers only
pass ids; credentials are decrypted here and never logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ronda.access.secrets import SecretBox
from ronda.devices.onvif.adding import refresh_streams
from ronda.devices.onvif.client import OnvifDevice
from ronda.devices.onvif.events import CameraEvent, PullPoint
from ronda.devices.onvif.ptz import OnvifPtz
from ronda.devices.ptz import PtzLimits, PtzPosition, PtzPreset
from ronda.errors import DeviceError
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import Camera

SEVERITY = {"tamper": "warning"}
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OnvifCamera:
    camera_id: int
    address: str
    username: str | None
    password: str | None
    info: dict[str, Any]

    def device(self, timeout_s: float = 8.0) -> OnvifDevice:
        return OnvifDevice(self.address, self.username, self.password, timeout_s)

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        return f"OnvifCamera({self.camera_id}, {self.address!r})"


def onvif_camera(db: Database, secrets: SecretBox, camera_id: int) -> OnvifCamera | None:
    """The camera if it was added by ONVIF (and is not deleted), else None."""
    with db.session() as s:
        cam = repos.get_camera(s, camera_id)
        if cam is None or not cam.onvif_address:
            return None
        return OnvifCamera(cam.id, cam.onvif_address, cam.username, secrets.decrypt(cam.password_enc),
                           dict(cam.onvif_info or {}))  # fmt: skip


def onvif_camera_ids(db: Database) -> list[int]:
    """The enabled cameras added by ONVIF (one PullPoint subscription each)."""
    with db.session() as s:
        return [c.id for c in repos.list_cameras(s) if c.onvif_address and c.enabled]


def ptz_driver(camera: OnvifCamera, device: OnvifDevice) -> OnvifPtz | None:
    """The dome's driver on ``device`` (a connection the caller keeps open), None for a fixed camera."""
    token = camera.info.get("ptz_profile")
    if not token:
        return None
    raw = camera.info.get("ptz_limits") or None
    limits = None
    if raw:
        limits = PtzLimits(
            pan=(float(raw["pan"][0]), float(raw["pan"][1])),
            tilt=(float(raw["tilt"][0]), float(raw["tilt"][1])),
            zoom=(float(raw["zoom"][0]), float(raw["zoom"][1])),
            max_presets=raw.get("max_presets"),
            home_supported=bool(raw.get("home_supported", True)),
        )
    return OnvifPtz(device, str(token), limits)


async def camera_events(camera: OnvifCamera) -> AsyncIterator[CameraEvent]:
    """The camera's events, forever (re-subscribing after failures); stop by cancelling the task."""
    device = camera.device()
    try:
        async for ev in PullPoint(device, uid=f"camera{camera.camera_id}").events():
            yield ev
    finally:
        await device.close()


def store_event(db: Database, camera_id: int, ev: CameraEvent) -> int:
    """One camera event as a Ronda event (source ``camera``): the outbox relay publishes it to the rules
    engine and the alarm manager like any other. Returns its id."""
    severity = SEVERITY.get(ev.type.split(".")[0], "info")
    with db.session() as s:
        return repos.add_event(s, ev.type, ev.time_ms, camera_id=camera_id, severity=severity, source="camera",
                               payload=ev.payload())  # fmt: skip


async def refresh_camera_streams(db: Database, secrets: SecretBox, camera_id: int) -> bool:
    """Ask the device for its stream URIs again and store those that changed (the recorder follows the
    catalog and restarts the capture with the new URL). True when something changed; ``DeviceError``
    when the device cannot say (the recorder keeps the URLs it has)."""
    cam = onvif_camera(db, secrets, camera_id)
    if cam is None:
        return False
    chosen = cam.info.get("profiles")  # the tokens chosen when it was added, or by an administrator
    chosen = chosen if isinstance(chosen, dict) else None
    urls = await refresh_streams(cam.address, cam.username, cam.password, chosen=chosen)
    if "main" not in urls:
        raise DeviceError("the device gave no main stream")
    changed = False
    with db.session() as s:
        row = repos.get_camera(s, camera_id)
        if row is None:
            return False
        for st in row.streams:
            if st.kind in urls and st.url != urls[st.kind]:
                st.url, st.codec = urls[st.kind], None
                changed = True
    return changed


class OnvifDome:
    """The :class:`~ronda.devices.ptz.PtzDriver` of a camera added by ONVIF that reported PTZ, for the PTZ
    service. Built without I/O (from the camera's row); it connects on first use and keeps the connection
    (a joystick sends a command every few hundred milliseconds), and after a failed command drops it, so
    the next command connects again (the dome rebooted, its address answered by another device...)."""

    def __init__(self, camera: OnvifCamera) -> None:
        self.camera = camera
        self._device: OnvifDevice | None = None
        self._driver: OnvifPtz | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"OnvifDome({self.camera!r})"

    async def _connected(self) -> OnvifPtz:
        async with self._lock:
            if self._driver is None:
                device = self.camera.device()
                try:
                    await device.connect()
                    driver = ptz_driver(self.camera, device)
                    if driver is None:
                        raise DeviceError("the camera reported no PTZ profile")
                except BaseException:
                    await device.close()
                    raise
                self._device, self._driver = device, driver
            return self._driver

    async def aclose(self) -> None:
        async with self._lock:
            device, self._device, self._driver = self._device, None, None
        if device is not None:
            await device.close()

    async def _do(self, call: Callable[[OnvifPtz], Awaitable[T]]) -> T:
        driver = await self._connected()
        try:
            return await call(driver)
        except DeviceError:
            await self.aclose()
            raise

    async def limits(self) -> PtzLimits:
        return await self._do(lambda d: d.limits())

    async def continuous(self, pan: float, tilt: float, zoom: float, timeout_s: float | None = None) -> None:
        await self._do(lambda d: d.continuous(pan, tilt, zoom, timeout_s))

    async def relative(self, pan: float, tilt: float, zoom: float) -> None:
        await self._do(lambda d: d.relative(pan, tilt, zoom))

    async def absolute(self, position: PtzPosition) -> None:
        await self._do(lambda d: d.absolute(position))

    async def stop(self) -> None:
        await self._do(lambda d: d.stop())

    async def status(self) -> PtzPosition:
        return await self._do(lambda d: d.status())

    async def presets(self) -> list[PtzPreset]:
        return await self._do(lambda d: d.presets())

    async def goto_preset(self, token: str) -> None:
        await self._do(lambda d: d.goto_preset(token))

    async def set_preset(self, name: str, token: str | None = None) -> str:
        return await self._do(lambda d: d.set_preset(name, token))

    async def remove_preset(self, token: str) -> None:
        await self._do(lambda d: d.remove_preset(token))

    async def home(self) -> None:
        await self._do(lambda d: d.home())

    async def set_home(self) -> None:
        await self._do(lambda d: d.set_home())


def dome_from_row(cam: Camera, secrets: SecretBox) -> OnvifDome | None:
    """The PTZ driver of a camera row (no I/O): an :class:`OnvifDome` for a camera added by ONVIF that
    reported PTZ, None for any other."""
    if not cam.onvif_address or not cam.ptz or cam.deleted_ms is not None:
        return None
    info = dict(cam.onvif_info or {})
    if not info.get("ptz_profile"):
        return None
    camera = OnvifCamera(cam.id, cam.onvif_address, cam.username, secrets.decrypt(cam.password_enc), info)
    return OnvifDome(camera)
