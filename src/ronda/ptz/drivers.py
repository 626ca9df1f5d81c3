"""Which PTZ driver a camera gets: one per camera, built from its row by a factory the runtime installs
(``ronda.runtime``: the ONVIF client's, or the simulated dome under ``ptz.simulated_domes``).

The factory is called with the camera's row inside a database session and must not do I/O: it reads
what it needs from the row (address, credentials) and returns a driver that connects on first use, or
None when the camera has no PTZ. It is asked again after ``forget`` (the camera was edited)."""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable

from ronda.devices.ptz import PtzDriver
from ronda.ptz.simulated import SimulatedDome
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import Camera

DriverFactory = Callable[[Camera], PtzDriver | None]


def no_ptz(camera: Camera) -> PtzDriver | None:
    """The factory until one is installed: no camera can be steered."""
    return None


def simulated_factory(patterns: list[str], fallback: DriverFactory = no_ptz) -> DriverFactory:
    """A :class:`SimulatedDome` for each camera whose name matches one of ``patterns`` (shell patterns:
    ``*`` every camera); ``fallback`` decides for the others (tests, demos)."""

    def make(camera: Camera) -> PtzDriver | None:
        if any(fnmatch.fnmatchcase(camera.name, p) for p in patterns):
            return SimulatedDome()
        return fallback(camera)

    return make


class Drivers:
    """camera id → driver, built once per camera by the factory."""

    def __init__(self, db: Database, factory: DriverFactory = no_ptz) -> None:
        self.db = db
        self.factory = factory
        self._drivers: dict[int, PtzDriver | None] = {}
        self._lock = threading.Lock()

    def set_factory(self, factory: DriverFactory) -> None:
        with self._lock:
            self.factory = factory
            self._drivers.clear()

    def get(self, camera_id: int) -> PtzDriver | None:
        """The camera's driver; None for a camera without PTZ, or one that does not exist (any more)."""
        with self._lock:
            if camera_id in self._drivers:
                return self._drivers[camera_id]
        with self.db.session() as s:
            cam = repos.get_camera(s, camera_id)
            driver = self.factory(cam) if cam is not None else None
        with self._lock:
            if cam is not None:
                return self._drivers.setdefault(camera_id, driver)
            return None

    def forget(self, camera_id: int) -> None:
        """Build the camera's driver again on next use (its address or credentials changed)."""
        with self._lock:
            self._drivers.pop(camera_id, None)
