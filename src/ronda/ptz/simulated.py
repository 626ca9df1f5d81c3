"""An in-process dome that keeps its position: what the tests steer, and what ``ptz.simulated_domes``
gives every camera. A continuous move integrates its speeds over the time that passes; positions are
clamped to the limits. The simulator's ONVIF dome replaces it in the integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ronda.devices.ptz import PtzLimits, PtzPosition, PtzPreset
from ronda.errors import DeviceError

FULL_SPEED = 0.5  # generic-space units per second at speed 1


def _clamp(v: float, lo_hi: tuple[float, float]) -> float:
    return min(max(v, lo_hi[0]), lo_hi[1])


@dataclass
class SimulatedDome:
    """A :class:`ronda.devices.ptz.PtzDriver` without a camera. ``calls`` records each command, in order."""

    clock: Callable[[], float] = time.monotonic
    ptz_limits: PtzLimits = field(default_factory=PtzLimits)
    max_presets: int = 64
    _pos: PtzPosition = field(default_factory=lambda: PtzPosition(0.0, 0.0, 0.0))
    _speed: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _since: float = 0.0
    _until: float | None = None
    _home: PtzPosition = field(default_factory=lambda: PtzPosition(0.0, 0.0, 0.0))
    _presets: dict[str, PtzPreset] = field(default_factory=dict)
    _next: int = 1
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, pos in (("Gate", PtzPosition(-0.5, -0.2, 0.3)), ("Square", PtzPosition(0.5, 0.1, 0.6))):
            self._add(name, pos)

    def _add(self, name: str, pos: PtzPosition) -> str:
        token = f"p{self._next}"
        self._next += 1
        self._presets[token] = PtzPreset(token, name, pos)
        return token

    def _settle(self) -> PtzPosition:
        """The position now: the move so far is applied (and ended at its timeout)."""
        now = self.clock()
        end = now if self._until is None else min(now, self._until)
        dt = max(0.0, end - self._since)
        if dt and any(self._speed):
            sp, lim = self._speed, self.ptz_limits
            self._pos = PtzPosition(
                _clamp(self._pos.pan + sp[0] * FULL_SPEED * dt, lim.pan),
                _clamp(self._pos.tilt + sp[1] * FULL_SPEED * dt, lim.tilt),
                _clamp(self._pos.zoom + sp[2] * FULL_SPEED * dt, lim.zoom),
            )
        self._since = now
        if self._until is not None and now >= self._until:
            self._speed, self._until = (0.0, 0.0, 0.0), None
        return self._pos

    @property
    def moving(self) -> bool:
        self._settle()
        return any(self._speed)

    def _set(self, pos: PtzPosition) -> None:
        self._settle()
        lim = self.ptz_limits
        self._speed, self._until = (0.0, 0.0, 0.0), None
        self._pos = PtzPosition(_clamp(pos.pan, lim.pan), _clamp(pos.tilt, lim.tilt), _clamp(pos.zoom, lim.zoom))

    async def limits(self) -> PtzLimits:
        return self.ptz_limits

    async def continuous(self, pan: float, tilt: float, zoom: float, timeout_s: float | None = None) -> None:
        self.calls.append("continuous")
        self._settle()
        self._speed = (pan, tilt, zoom)
        self._until = None if timeout_s is None else self.clock() + timeout_s

    async def relative(self, pan: float, tilt: float, zoom: float) -> None:
        self.calls.append("relative")
        p = self._settle()
        self._set(PtzPosition(p.pan + pan, p.tilt + tilt, p.zoom + zoom))

    async def absolute(self, position: PtzPosition) -> None:
        self.calls.append("absolute")
        self._set(position)

    async def stop(self) -> None:
        self.calls.append("stop")
        self._settle()
        self._speed, self._until = (0.0, 0.0, 0.0), None

    async def status(self) -> PtzPosition:
        return self._settle()

    async def presets(self) -> list[PtzPreset]:
        return list(self._presets.values())

    async def goto_preset(self, token: str) -> None:
        self.calls.append(f"preset:{token}")
        p = self._presets.get(token)
        if p is None or p.position is None:
            raise DeviceError(f"the camera has no preset {token!r}")
        self._set(p.position)

    async def set_preset(self, name: str, token: str | None = None) -> str:
        self.calls.append("set_preset")
        pos = self._settle()
        if token is not None:
            if token not in self._presets:
                raise DeviceError(f"the camera has no preset {token!r}")
            self._presets[token] = PtzPreset(token, name, pos)
            return token
        if len(self._presets) >= self.max_presets:
            raise DeviceError("the camera's presets are full")
        return self._add(name, pos)

    async def remove_preset(self, token: str) -> None:
        self.calls.append(f"remove_preset:{token}")
        if self._presets.pop(token, None) is None:
            raise DeviceError(f"the camera has no preset {token!r}")

    async def home(self) -> None:
        self.calls.append("home")
        self._set(self._home)

    async def set_home(self) -> None:
        self.calls.append("set_home")
        self._home = self._settle()
