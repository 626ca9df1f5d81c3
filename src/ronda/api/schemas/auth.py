"""Login, the caller, tickets."""

from __future__ import annotations

from ronda.api.schemas import Out


class Tokens(Out):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    csrf_token: str | None = None  # with the session cookie (web client)


class MeView(Out):
    id: int
    username: str
    roles: list[str]
    organisation_id: int | None
    rights: list[str]
    via: str
    cameras: dict[str, list[str]]


class Ticket(Out):
    ticket: str
    expires_in: int
