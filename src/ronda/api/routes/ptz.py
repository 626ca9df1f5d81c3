"""PTZ domes (docs/ptz.md): commands, presets, reservations, patrols. Each route parses and bounds its
input, calls ``ronda.ptz.service`` once and answers with a model of ``api/schemas/ptz.py``; rights are
declared on the route (``ronda.api.deps``), the caller's PTZ priority is the service's business."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ronda.access.rights import MANAGE_CAMERAS, PTZ, PTZ_PRIORITY
from ronda.api.deps import Caller, CameraId, Ctx, camera_right
from ronda.api.schemas import Responses
from ronda.api.schemas.ptz import PatrolOut, PresetOut, PtzBusyOut, PtzStateOut
from ronda.errors import Unavailable
from ronda.ptz.controller import Command
from ronda.ptz.service import MAX_STEPS, PtzService

router = APIRouter(tags=["ptz"])
BUSY: Responses = {409: {"model": PtzBusyOut, "description": "another user holds or reserved the dome"}}
NAME = r"^[^\x00-\x1f]+$"
Token = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f/]+$", description="preset token")]
PatrolId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# Per action, the bounds of pan, tilt and zoom (generic spaces; absolute positions are then clamped to
# the dome's own limits).
BOUNDS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "continuous": ((-1, 1), (-1, 1), (-1, 1)),
    "relative": ((-2, 2), (-2, 2), (-1, 1)),
    "absolute": ((-1, 1), (-1, 1), (0, 1)),
}


def service(ctx: Ctx) -> PtzService:
    if ctx.ptz is None:
        raise Unavailable("PTZ control is not running in this process")
    return ctx.ptz


Ptz = Annotated[PtzService, Depends(service)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class CommandIn(_In):
    """``continuous``: speeds ``pan``, ``tilt``, ``zoom`` in -1..1 (the joystick: send it again at least every
    ``ptz.deadman_seconds`` or the dome stops); ``relative``: steps (pan, tilt -2..2, zoom -1..1);
    ``absolute``: a position (pan, tilt -1..1, zoom 0..1); ``preset``: go to ``preset`` (its token);
    ``stop``, ``home``."""

    action: Literal["continuous", "relative", "absolute", "stop", "preset", "home"]
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0
    preset: str | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _bounded(self) -> CommandIn:
        if (self.preset is None) == (self.action == "preset"):
            raise ValueError("preset is needed with the action 'preset' and only there")
        bounds = BOUNDS.get(self.action)
        values = {"pan": self.pan, "tilt": self.tilt, "zoom": self.zoom}
        if bounds is None:
            if any(values.values()):
                raise ValueError(f"'{self.action}' takes no pan, tilt or zoom")
            return self
        for (name, v), (lo, hi) in zip(values.items(), bounds, strict=True):
            if not lo <= v <= hi:
                raise ValueError(f"{name} must be within {lo:g}..{hi:g} for '{self.action}'")
        return self

    def command(self) -> Command:
        return Command(self.action, self.pan, self.tilt, self.zoom, self.preset)


class PresetIn(_In):
    name: str = Field(min_length=1, max_length=64, pattern=NAME)


class ReservationIn(_In):
    minutes: int = Field(ge=1, le=1440, description="how long the dome is reserved")


class SettingsIn(_In):
    idle_home_s: int = Field(ge=0, le=86400, description="return home after this long without commands (0: never)")


class StepIn(_In):
    preset: str = Field(min_length=1, max_length=64, description="a preset token of the dome")
    dwell_s: float = Field(ge=1, le=3600, description="seconds to stay")


class PatrolIn(_In):
    name: str = Field(min_length=1, max_length=64, pattern=NAME)
    steps: list[StepIn] = Field(min_length=1, max_length=MAX_STEPS)
    time_profile_id: int | None = Field(None, ge=1, le=2**31 - 1, description="run only while it applies")

    def stored(self) -> list[dict[str, Any]]:
        return [s.model_dump() for s in self.steps]


# --- the dome -------------------------------------------------------------------------------------------
@router.get("/cameras/{camera_id}/ptz", response_model=PtzStateOut, **camera_right(PTZ))
async def get_state(ptz: Ptz, camera_id: CameraId) -> PtzStateOut:
    """Who holds the dome and until when, its reservation, its patrol, its position."""
    view = await ptz.view(camera_id)
    return PtzStateOut.of(view.state, view)


@router.post("/cameras/{camera_id}/ptz", response_model=PtzStateOut, response_model_exclude_unset=True,
             responses=BUSY, **camera_right(PTZ))  # fmt: skip
async def command(ptz: Ptz, caller: Caller, camera_id: CameraId, body: CommandIn) -> PtzStateOut:
    """Steer the dome. 409 (``holder``, ``until``) while a user with an equal or higher priority holds it."""
    return PtzStateOut.of(await ptz.command(caller, camera_id, body.command()))


# --- presets --------------------------------------------------------------------------------------------
@router.get("/cameras/{camera_id}/ptz/presets", response_model=list[PresetOut], **camera_right(PTZ))
async def list_presets(ptz: Ptz, camera_id: CameraId) -> list[PresetOut]:
    """The dome's presets as the camera has them, with the names given in Ronda."""
    return [PresetOut.of(p) for p in await ptz.presets(camera_id)]


@router.post("/cameras/{camera_id}/ptz/presets", status_code=201, response_model=PresetOut, responses=BUSY,
             **camera_right(PTZ))  # fmt: skip
async def create_preset(ptz: Ptz, caller: Caller, camera_id: CameraId, body: PresetIn) -> PresetOut:
    """Save the current position as a new preset (a command: 409 while another user holds the dome)."""
    return PresetOut.of(await ptz.create_preset(caller, camera_id, body.name))


@router.patch("/cameras/{camera_id}/ptz/presets/{token}", response_model=PresetOut, **camera_right(PTZ))
async def rename_preset(ptz: Ptz, caller: Caller, camera_id: CameraId, token: Token, body: PresetIn) -> PresetOut:
    """Rename a preset (in Ronda: the camera's preset keeps its position)."""
    return PresetOut.of(await ptz.rename_preset(caller, camera_id, token, body.name))


@router.delete("/cameras/{camera_id}/ptz/presets/{token}", status_code=204, response_class=Response,
               responses=BUSY, **camera_right(PTZ))  # fmt: skip
async def delete_preset(ptz: Ptz, caller: Caller, camera_id: CameraId, token: Token) -> Response:
    await ptz.delete_preset(caller, camera_id, token)
    return Response(status_code=204)


@router.put("/cameras/{camera_id}/ptz/home", status_code=204, response_class=Response, responses=BUSY,
            **camera_right(MANAGE_CAMERAS))  # fmt: skip
async def set_home(ptz: Ptz, caller: Caller, camera_id: CameraId) -> Response:
    """Make the current position the dome's home."""
    await ptz.set_home(caller, camera_id)
    return Response(status_code=204)


@router.put("/cameras/{camera_id}/ptz/settings", response_model=PtzStateOut, response_model_exclude_unset=True,
            **camera_right(MANAGE_CAMERAS))  # fmt: skip
async def put_settings(ptz: Ptz, caller: Caller, camera_id: CameraId, body: SettingsIn) -> PtzStateOut:
    return PtzStateOut.of(await ptz.set_idle_home(caller, camera_id, body.idle_home_s))


# --- reservations ---------------------------------------------------------------------------------------
@router.post("/cameras/{camera_id}/ptz/reservation", response_model=PtzStateOut, response_model_exclude_unset=True,
             responses=BUSY, **camera_right(PTZ_PRIORITY))  # fmt: skip
async def reserve(ptz: Ptz, caller: Caller, camera_id: CameraId, body: ReservationIn) -> PtzStateOut:
    """Reserve the dome: for ``minutes`` nobody whose priority is not above the caller's steers it."""
    return PtzStateOut.of(await ptz.reserve(caller, camera_id, body.minutes))


@router.delete("/cameras/{camera_id}/ptz/reservation", response_model=PtzStateOut,
               response_model_exclude_unset=True, **camera_right(PTZ_PRIORITY))  # fmt: skip
async def cancel_reservation(ptz: Ptz, caller: Caller, camera_id: CameraId) -> PtzStateOut:
    return PtzStateOut.of(await ptz.cancel_reservation(caller, camera_id))


# --- patrols --------------------------------------------------------------------------------------------
@router.get("/cameras/{camera_id}/ptz/patrols", response_model=list[PatrolOut], **camera_right(PTZ))
async def list_patrols(ptz: Ptz, camera_id: CameraId) -> list[PatrolOut]:
    return [PatrolOut.of(p) for p in await ptz.patrols(camera_id)]


@router.post("/cameras/{camera_id}/ptz/patrols", status_code=201, response_model=PatrolOut,
             **camera_right(MANAGE_CAMERAS))  # fmt: skip
async def create_patrol(ptz: Ptz, caller: Caller, camera_id: CameraId, body: PatrolIn) -> PatrolOut:
    """A tour of presets (tokens) with dwell times, optionally only inside a time profile."""
    return PatrolOut.of(await ptz.save_patrol(caller, camera_id, None, body.name, body.stored(), body.time_profile_id))


@router.put("/cameras/{camera_id}/ptz/patrols/{patrol_id}", response_model=PatrolOut,
            **camera_right(MANAGE_CAMERAS))  # fmt: skip
async def replace_patrol(ptz: Ptz, caller: Caller, camera_id: CameraId, patrol_id: PatrolId,
                         body: PatrolIn) -> PatrolOut:  # fmt: skip
    return PatrolOut.of(await ptz.save_patrol(caller, camera_id, patrol_id, body.name, body.stored(),
                                              body.time_profile_id))  # fmt: skip


@router.delete("/cameras/{camera_id}/ptz/patrols/{patrol_id}", status_code=204, response_class=Response,
               **camera_right(MANAGE_CAMERAS))  # fmt: skip
async def delete_patrol(ptz: Ptz, caller: Caller, camera_id: CameraId, patrol_id: PatrolId) -> Response:
    await ptz.delete_patrol(caller, camera_id, patrol_id)
    return Response(status_code=204)


@router.post("/cameras/{camera_id}/ptz/patrols/{patrol_id}/start", response_model=PtzStateOut,
             response_model_exclude_unset=True, responses=BUSY, **camera_right(PTZ))  # fmt: skip
async def start_patrol(ptz: Ptz, caller: Caller, camera_id: CameraId, patrol_id: PatrolId) -> PtzStateOut:
    """Run the patrol (the caller's own hold on the dome ends); it pauses while a user steers the dome."""
    return PtzStateOut.of(await ptz.start_patrol(caller, camera_id, patrol_id))


@router.post("/cameras/{camera_id}/ptz/patrol/stop", response_model=PtzStateOut, response_model_exclude_unset=True,
             **camera_right(PTZ))  # fmt: skip
async def stop_patrol(ptz: Ptz, caller: Caller, camera_id: CameraId) -> PtzStateOut:
    return PtzStateOut.of(await ptz.stop_patrol(caller, camera_id))
