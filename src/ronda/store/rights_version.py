"""The rights version: one counter that moves with every change to what decides permissions; and the
catalog version: one that moves with every change to what the camera list shows.

Any ORM flush that adds, changes or deletes a row of a table listed in ``RIGHTS_TABLES`` (or the
permission-relevant columns of ``users`` and ``cameras``), and any bulk ``UPDATE``/``DELETE`` on such a
table through a session, bumps ``rights_version.n`` (row 1) in the same transaction; likewise any change
to a row of ``CATALOG_TABLES`` (any column) bumps row 2. Nobody has to remember to bump them: the hook
sits on the session factory (``Database``). Readers compare the counter with the one their cached
permissions (``ronda.access.rights_cache``) or camera rows (``ronda.store.catalog_cache``) were read at."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ScalarSelect, event, inspect, select, update
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from ronda.store.access_models import (
    CameraGroup,
    CameraGroupMember,
    CameraShare,
    Organisation,
    RightsVersion,
    Role,
    RoleScope,
    TimeProfile,
    User,
    UserRole,
)
from ronda.store.models import Camera, CameraStream

# Any change to these rows can change someone's effective permissions.
_WHOLE_ROWS: tuple[type, ...] = (
    Organisation,
    CameraGroup,
    CameraGroupMember,
    CameraShare,
    TimeProfile,
    Role,
    RoleScope,
    UserRole,
)
# For these, only some columns matter (a login or a camera status change must not empty every cache).
_COLUMNS: dict[type, frozenset[str]] = {
    User: frozenset({"enabled", "organisation_id", "token_version"}),
    Camera: frozenset({"deleted_ms"}),
}
RIGHTS_TABLES = frozenset(m.__tablename__ for m in (*_WHOLE_ROWS, *_COLUMNS))  # type: ignore[attr-defined]
_TABLE_COLUMNS = {m.__tablename__: cols for m, cols in _COLUMNS.items()}  # type: ignore[attr-defined]
_BUMP = update(RightsVersion).where(RightsVersion.id == 1).values(n=RightsVersion.n + 1)
# What the camera list shows: every column of these (a camera's status too).
_CATALOG: tuple[type, ...] = (Camera, CameraStream, CameraGroup, CameraGroupMember, CameraShare, Organisation)
CATALOG_TABLES = frozenset(m.__tablename__ for m in _CATALOG)  # type: ignore[attr-defined]
_BUMP_CATALOG = update(RightsVersion).where(RightsVersion.id == 2).values(n=RightsVersion.n + 1)


def current(s: Session) -> int:
    """The counter as this transaction sees it (0 on a database that has no row yet)."""
    return int(s.scalar(select(RightsVersion.n).where(RightsVersion.id == 1)) or 0)


def current_query() -> ScalarSelect[int]:
    """The counter as a scalar subquery, to read it with other columns in one statement (NULL: 0)."""
    return select(RightsVersion.n).where(RightsVersion.id == 1).scalar_subquery()


def catalog(s: Session) -> int:
    """The catalog counter as this transaction sees it (-1 before migration 0023: never cached)."""
    n = s.scalar(select(RightsVersion.n).where(RightsVersion.id == 2))
    return -1 if n is None else int(n)


def _touches_catalog(session: Session) -> bool:
    return any(isinstance(obj, _CATALOG) for obj in (*session.new, *session.deleted, *session.dirty))


def _touches_rights(session: Session) -> bool:
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, _WHOLE_ROWS) or type(obj) in _COLUMNS:
            return True
    for obj in session.dirty:
        if isinstance(obj, _WHOLE_ROWS):
            return True
        cols = _COLUMNS.get(type(obj))
        if cols is not None:
            state = inspect(obj)
            if any(state.attrs[c].history.has_changes() for c in cols):
                return True
    return False


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    if _touches_rights(session):
        session.connection().execute(_BUMP)
    if _touches_catalog(session):
        session.connection().execute(_BUMP_CATALOG)


def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    stmt = state.statement
    name = getattr(getattr(stmt, "table", None), "name", None)
    if name in CATALOG_TABLES:
        state.session.connection().execute(_BUMP_CATALOG)
    if name not in RIGHTS_TABLES or state.is_insert:
        return
    cols = _TABLE_COLUMNS.get(name)
    if cols is not None and state.is_update:
        # A bulk UPDATE of only other columns (a camera's status, a user's failed logins) changes no
        # permission. When the statement's columns cannot be read, bump: a spare reload is harmless.
        values = getattr(stmt, "_values", None)
        if values and not any(getattr(k, "key", k) in cols for k in values):
            return
    state.session.connection().execute(_BUMP)


def install(factory: sessionmaker[Session]) -> None:
    """Hook the counter onto every session ``factory`` makes."""
    event.listen(factory, "before_flush", _before_flush)
    event.listen(factory, "do_orm_execute", _on_execute)
