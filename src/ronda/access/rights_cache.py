"""Resolved permissions per user, cached per process and reloaded when the rights version moves.

Resolving user → roles → scopes → groups → cameras costs about seven queries; a request needs one
(``rights_version.n``) when nothing changed. Correctness does not depend on anyone invalidating the
cache by hand: every transaction that changes a permission-relevant row bumps the counter
(``ronda.store.rights_version``), and a different counter means a reload. The counter is read first, so
on a database where later statements can see newer commits (PostgreSQL read committed) a cached entry can
only be newer than its version, never older."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ronda.access.rights import Permissions, load_permissions
from ronda.store import rights_version
from ronda.store.access_models import Role, UserRole


@dataclass(frozen=True)
class Resolved:
    version: int
    roles: tuple[str, ...]
    permissions: Permissions


class RightsCache:
    def __init__(self, max_users: int = 10_000) -> None:
        self._max = max_users
        self._entries: dict[int, Resolved] = {}
        self._lock = threading.Lock()
        self.loads = 0  # how many times permissions were resolved from the database (tests, metrics)

    def resolve(self, s: Session, user_id: int, version: int | None = None) -> Resolved:
        """The user's roles and permissions as of this transaction. ``version``: the rights counter, when
        the caller has read it already in this transaction (before anything it resolves)."""
        if version is None:
            version = rights_version.current(s)
        hit = self._entries.get(user_id)
        if hit is not None and hit.version == version:
            return hit
        q = select(Role.name).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user_id)
        roles = tuple(sorted(s.scalars(q)))
        entry = Resolved(version, roles, load_permissions(s, user_id))
        with self._lock:
            self.loads += 1
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[user_id] = entry
        return entry
