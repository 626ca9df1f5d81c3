"""What can go wrong with the map, without HTTP: the API maps each to its status once
(``api/routes/map.py``)."""

from __future__ import annotations


class MapError(Exception):
    """Base of the map's errors; ``str(e)`` is a sentence for the user."""


class PlanRefused(MapError, ValueError):
    """A plan file Ronda will not store (bad type, structure, size in pixels, nesting, coordinates)."""


class PlanTooLarge(MapError):
    """The plan file is over the byte limit of its type."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the plan may be at most {limit // (1024 * 1024)} MiB")
        self.limit = limit


class PlanMissing(MapError):
    """There is no plan to serve or remove."""

    def __init__(self) -> None:
        super().__init__("no site plan has been uploaded")


class PlanRequired(MapError):
    """A camera can only be placed on a plan."""

    def __init__(self) -> None:
        super().__init__("upload a site plan before placing cameras")


class InvalidPosition(MapError, ValueError):
    """A position that is not one pair of in-range coordinates."""


class WrongPositionKind(MapError):
    """``x``/``y`` on a GeoJSON plan, or ``lat``/``lon`` on an image."""


class CameraUnknown(MapError):
    """The camera does not exist (or was deleted)."""

    def __init__(self) -> None:
        super().__init__("camera not found")


class NotPlaced(MapError):
    """The camera has no position to remove."""

    def __init__(self) -> None:
        super().__init__("the camera is not on the map")
