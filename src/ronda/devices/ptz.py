"""What a PTZ (pan, tilt, zoom) camera can be told to do, whatever protocol drives it.

The ONVIF client (``devices/onvif/``) implements :class:`PtzDriver`; the PTZ service (``ptz/``: sessions,
priorities, patrols, idle return) only speaks to this protocol. Positions are in ONVIF's generic spaces:
pan and tilt from -1 to 1, zoom from 0 (wide) to 1 (tele); speeds from -1 to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PtzPosition:
    pan: float
    tilt: float
    zoom: float


@dataclass(frozen=True, slots=True)
class PtzPreset:
    token: str
    name: str
    position: PtzPosition | None = None


@dataclass(frozen=True, slots=True)
class PtzLimits:
    """The device's ranges in the generic spaces (a dome may not tilt above the horizon)."""

    pan: tuple[float, float] = (-1.0, 1.0)
    tilt: tuple[float, float] = (-1.0, 1.0)
    zoom: tuple[float, float] = (0.0, 1.0)
    max_presets: int | None = None
    home_supported: bool = True


class PtzDriver(Protocol):
    """One camera's PTZ commands. Every call is bounded in time by the driver and raises
    ``ronda.errors.DeviceError`` (or a subclass) when the device refuses or does not answer."""

    async def limits(self) -> PtzLimits: ...

    async def continuous(self, pan: float, tilt: float, zoom: float, timeout_s: float | None = None) -> None:
        """Move at these speeds until :meth:`stop` (or ``timeout_s``)."""

    async def relative(self, pan: float, tilt: float, zoom: float) -> None: ...

    async def absolute(self, position: PtzPosition) -> None: ...

    async def stop(self) -> None: ...

    async def status(self) -> PtzPosition: ...

    async def presets(self) -> list[PtzPreset]: ...

    async def goto_preset(self, token: str) -> None: ...

    async def set_preset(self, name: str, token: str | None = None) -> str:
        """Save the current position as ``name`` (a new preset, or ``token`` overwritten); its token."""

    async def remove_preset(self, token: str) -> None: ...

    async def home(self) -> None: ...

    async def set_home(self) -> None: ...
