"""Domain errors: what feature code raises when a request cannot be served. They name what went wrong,
never an HTTP status; ``ronda.api.app`` maps each class to one status, in one place.

- ``NotFound``       the object does not exist, or the caller may not know it does (404)
- ``Forbidden``      the caller sees the object but lacks the right for this action (403)
- ``Conflict``       the object's state does not allow it now (409); ``extra`` may say by whom and until
                     when (a PTZ dome held by another user: ``holder``, ``until``)
- ``Invalid``        the input is well-formed but not acceptable (422); ``detail`` may be a list of
                     field errors, as pydantic gives them
- ``Unavailable``    the service cannot answer now; try later (503, ``retry_after`` seconds if known)
- ``TooLarge``       the input is over its size limit (413)
- ``TooManyRequests`` a budget is spent (429, ``retry_after`` seconds)
- ``Unauthenticated`` no valid credentials (401)
- ``DeviceError``    a camera refused a command or did not answer in time (502); where the caller
                     gave the device's address (adding a camera), feature code raises ``Invalid``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """Base of every domain error: ``detail`` is the message (or list of field errors) for the caller;
    ``code``, when set, a machine-readable word clients decide on (e.g. ``login_failed``), never the
    English ``detail``; ``extra``, more JSON fields of the answer beside ``detail`` (they never replace
    ``detail`` or ``code``)."""

    code: str | None = None

    def __init__(
        self,
        detail: Any,
        retry_after: int | None = None,
        code: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail
        self.retry_after = retry_after
        self.extra: dict[str, Any] = dict(extra or {})
        if code is not None:
            self.code = code


class NotFound(DomainError):
    """``NotFound("bookmark")`` says "bookmark not found"; ``message`` replaces the whole sentence."""

    def __init__(self, what: str = "camera", message: str | None = None) -> None:
        super().__init__(message or f"{what} not found")


class Forbidden(DomainError):
    pass


class Conflict(DomainError):
    pass


class Invalid(DomainError):
    pass


class Unavailable(DomainError):
    pass


class TooLarge(DomainError):
    pass


class TooManyRequests(DomainError):
    pass


class Unauthenticated(DomainError):
    pass


class DeviceError(DomainError):
    pass
