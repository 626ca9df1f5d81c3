"""Users, roles, organisations, API keys, TOTP enrolment and the audit log."""

from __future__ import annotations

from typing import Any

from ronda.api.schemas import Out
from ronda.api.schemas.auth import Tokens


class UserView(Out):
    id: int
    username: str
    display_name: str | None
    organisation_id: int | None
    enabled: bool
    roles: list[str]
    totp: bool
    last_login: str | None


class SelfView(UserView):
    session: Tokens | None = None  # after a password change: this session's new tokens


class NewApiKey(Out):
    id: int
    name: str
    key: str  # shown once
    rights: list[str]


class ApiKeyView(Out):
    id: int
    name: str
    prefix: str
    rights: list[str]
    revoked: bool


class RoleView(Out):
    id: int
    name: str
    rights: list[str]
    all_cameras: bool
    builtin: bool
    organisation_id: int | None
    time_profile_id: int | None


class GroupRef(Out):
    id: int
    name: str


class OrganisationView(Out):
    id: int
    name: str
    camera_groups: list[GroupRef]


class TotpStart(Out):
    secret: str
    uri: str


class TotpEnabled(Out):
    totp: bool


class AuditEntry(Out):
    seq: int
    time: str | None
    actor: str
    action: str
    camera_id: int | None
    start: str | None
    end: str | None
    source_ip: str | None
    result: str
    details: Any
    mac: str


class AuditVerify(Out):
    ok: bool
    first_bad_seq: int | None
    message: str
    entries: int
