"""PTZ domes: who holds one, its reservation, its patrol and position; presets; patrols
(built from ``ronda.ptz``'s records)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ronda.api.schemas import Out
from ronda.ptz.controller import DomeState
from ronda.ptz.service import DomeView, PatrolInfo, PresetInfo
from ronda.timeutil import to_iso


class PositionOut(Out):
    pan: float = Field(description="-1..1")
    tilt: float = Field(description="-1..1")
    zoom: float = Field(description="0 (wide)..1 (tele)")


class ReservationOut(Out):
    by: str
    priority: int
    until: str


class PatrolStateOut(Out):
    id: int
    name: str
    state: Literal["running", "paused", "waiting"] = Field(
        description="paused: a user holds the dome; waiting: outside its time profile"
    )
    step: int = Field(description="the next step (0-based)")


class PtzStateOut(Out):
    """Who holds the dome (null: nobody) and until when their session ends without another command."""

    holder: str | None
    priority: int | None
    until: str | None
    reservation: ReservationOut | None
    patrol: PatrolStateOut | None
    idle_home_s: int
    moving: bool
    position: PositionOut | None = Field(None, description="absent in command answers; null if the camera did not say")

    @classmethod
    def of(cls, st: DomeState, view: DomeView | None = None) -> PtzStateOut:
        res = st.reservation
        until = to_iso(res.until_ms) if res else None
        patrol = None
        if st.patrol is not None and st.patrol_state is not None:
            patrol = PatrolStateOut(id=st.patrol.id, name=st.patrol.name, state=st.patrol_state,
                                    step=st.patrol_step or 0)  # fmt: skip
        out = cls(holder=st.holder, priority=st.priority, until=to_iso(st.until_ms),
                  reservation=ReservationOut(by=res.actor, priority=res.priority, until=until or "") if res else None,
                  patrol=patrol, idle_home_s=st.idle_home_s, moving=st.moving)  # fmt: skip
        if view is not None:
            p = view.position
            out.position = PositionOut(pan=p.pan, tilt=p.tilt, zoom=p.zoom) if p is not None else None
        return out


class PresetOut(Out):
    token: str
    name: str

    @classmethod
    def of(cls, p: PresetInfo) -> PresetOut:
        return cls(token=p.token, name=p.name)


class PatrolStep(Out):
    preset: str
    dwell_s: float


class PatrolOut(Out):
    id: int
    name: str
    steps: list[PatrolStep]
    time_profile_id: int | None
    running: bool

    @classmethod
    def of(cls, p: PatrolInfo) -> PatrolOut:
        steps: list[dict[str, Any]] = p.steps
        return cls(id=p.id, name=p.name, steps=[PatrolStep(**s) for s in steps], time_profile_id=p.time_profile_id,
                   running=p.running)  # fmt: skip


class PtzBusyOut(Out):
    """409: someone with an equal or higher priority holds (or reserved) the dome."""

    detail: str
    code: Literal["ptz_busy", "ptz_reserved"]
    holder: str
    until: str
