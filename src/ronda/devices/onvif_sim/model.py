"""What the ONVIF services know about one simulated camera."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ronda.devices.onvif_sim.soap import Request, SoapFault
from ronda.devices.simdome import Dome

MANUFACTURER = "Ronda"
FIRMWARE = "1.0.0"
VIDEO_SOURCE = "VideoSource_1"
VIDEO_SOURCE_CONFIG = "VideoSourceConfig_1"
PTZ_NODE = "PTZNode_1"
PTZ_CONFIG = "PTZConfig_1"
DIGITAL_INPUT = "DigitalInput_1"


@dataclass(frozen=True, slots=True)
class StreamProfile:
    token: str  # "main" | "sub": also the profile's name
    path: str  # RTSP mount path, e.g. /cam1/sub
    width: int
    height: int
    fps: int
    bitrate_kbps: int


@dataclass
class SimCamera:
    number: int
    name: str  # "cam1"
    moving: bool  # its clip shows motion
    profiles: list[StreamProfile]
    dome: Dome | None = None
    clock_offset: float = 0.0  # seconds the camera's clock is ahead of the host's
    state: Callable[[], str] = field(default=lambda: "running")
    motion_forced: bool | None = None  # set through the control port; None: follow the clip

    @property
    def model(self) -> str:
        return "SimDome PTZ" if self.dome is not None else "SimCam Bullet"

    @property
    def serial(self) -> str:
        return f"RSIM{self.number:06d}"

    def now(self) -> float:
        """The camera's clock (Unix seconds), offset included."""
        return time.time() + self.clock_offset

    def online(self) -> bool:
        return self.state() != "stopped"

    def motion(self) -> bool:
        """Motion in the picture now: forced through the control port, else a moving clip shows motion
        during the first 6 s of every 10 s (the clip's loop), a still clip and the dome none."""
        if self.motion_forced is not None:
            return self.motion_forced
        return self.moving and self.dome is None and time.time() % 10 < 6


@dataclass
class Endpoint:
    """Where the simulator serves: addresses put into responses."""

    host: str
    onvif_port: int
    rtsp_port: int

    def xaddr(self, camera: SimCamera, service: str) -> str:
        return f"http://{self.host}:{self.onvif_port}/onvif/{camera.number}/{service}"

    def rtsp(self, path: str) -> str:
        return f"rtsp://{self.host}:{self.rtsp_port}{path}"


Handler = Callable[[SimCamera, Endpoint, Request], str]


def dispatch(handlers: dict[str, Handler], cam: SimCamera, ep: Endpoint, req: Request) -> str:
    """The answer of the service operation ``req`` names, or ActionNotSupported."""
    handler = handlers.get(req.action)
    if handler is None:
        raise SoapFault("ter:ActionNotSupported", f"{req.action} is not supported", code="env:Receiver")
    return handler(cam, ep, req)
