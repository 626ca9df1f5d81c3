"""What can go wrong with the map, without HTTP: each error is a domain error (``ronda.errors``), which
``ronda.api.app`` maps to its status once."""

from __future__ import annotations

from ronda.errors import Conflict, DomainError, Invalid, NotFound, TooLarge


class MapError(DomainError):
    """Base of the map's errors; ``str(e)`` is a sentence for the user."""


class PlanRefused(MapError, Invalid, ValueError):
    """A plan file Ronda will not store (bad type, structure, size in pixels, nesting, coordinates)."""


class PlanTooLarge(MapError, TooLarge):
    """The plan file is over the byte limit of its type."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the plan may be at most {limit // (1024 * 1024)} MiB")
        self.limit = limit


class PlanMissing(MapError, NotFound):
    """There is no plan to serve or remove."""

    def __init__(self) -> None:
        super().__init__(message="no site plan has been uploaded")


class PlanRequired(MapError, Conflict):
    """``x``/``y`` need an image plan (``lat``/``lon`` place a camera on the geographic map)."""

    def __init__(self) -> None:
        super().__init__('upload a site plan before placing cameras by "x" and "y" (or give "lat" and "lon")')


class InvalidPosition(MapError, Invalid, ValueError):
    """A position that is not one pair of in-range coordinates."""


class WrongPositionKind(MapError, Invalid):
    """``x``/``y`` on a GeoJSON plan."""


class CameraUnknown(MapError, NotFound):
    """The camera does not exist (or was deleted)."""

    def __init__(self) -> None:
        super().__init__("camera")


class NotPlaced(MapError, NotFound):
    """The camera has no position to remove."""

    def __init__(self) -> None:
        super().__init__(message="the camera is not on the map")
