"""Request dependencies shared by the routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from ronda.api.app import AppContext

# Ids are 32-bit in the schema; anything larger is simply "not found", never a 500.
CameraId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Camera id")]


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


@dataclass(slots=True)
class Principal:
    username: str
    roles: tuple[str, ...]


def principal(request: Request) -> Principal:
    """The caller. Until access control lands, the API binds to 127.0.0.1 and this is the site admin."""
    return Principal(username="local-admin", roles=("administrator",))


Ctx = Annotated[AppContext, Depends(context)]
Caller = Annotated[Principal, Depends(principal)]


def not_found(what: str = "camera") -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} not found")
