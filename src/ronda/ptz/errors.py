"""What can go wrong steering a dome, as domain errors (``ronda.errors``; ``ronda.api.app`` maps them)."""

from __future__ import annotations

from ronda.errors import Conflict, DomainError, Invalid, NotFound
from ronda.timeutil import to_iso


class PtzError(DomainError):
    """Base of the PTZ errors; ``str(e)`` is a sentence for the user."""


class DomeBusy(PtzError, Conflict):
    """Someone with an equal or higher priority holds (or has reserved) the dome: the answer names them and
    when their hold ends (``holder``, ``until``)."""

    def __init__(self, holder: str, until_ms: int, reserved: bool = False) -> None:
        what = "reserved" if reserved else "controlled"
        super().__init__(
            f"the dome is {what} by {holder} until {to_iso(until_ms)}",
            code="ptz_reserved" if reserved else "ptz_busy",
            extra={"holder": holder, "until": to_iso(until_ms)},
        )
        self.holder = holder
        self.until_ms = until_ms


class NoPtz(PtzError, NotFound):
    """The camera exists but cannot be steered."""

    def __init__(self, camera_id: int) -> None:
        super().__init__(message=f"camera {camera_id} has no PTZ control")


class PresetUnknown(PtzError, NotFound):
    def __init__(self, preset: str) -> None:
        super().__init__(message=f"the dome has no preset {preset!r}")


class PatrolUnknown(PtzError, NotFound):
    def __init__(self) -> None:
        super().__init__("patrol")


class PtzInvalid(PtzError, Invalid):
    """A value the dome cannot take (outside its limits, a patrol naming an unknown preset...)."""
