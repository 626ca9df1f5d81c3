"""The camera list's rows, kept per process while the catalog counter stands.

Every request of every client reads the camera list; its rows (cameras, streams, the groups each camera
is in per organisation) change a few times a day. They are read again only when ``rights_version`` row 2
moved (``ronda.store.rights_version``: every transaction that changes such a row bumps it), so a request
costs one one-row query instead of three wider ones. The counter is read first: under read committed
(PostgreSQL) the rows read after it can only be newer than it, never older.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Row
from sqlalchemy.orm import Session

from ronda.store import repos, rights_version

Listing = list[tuple[Row[Any], list[Any]]]
Groups = dict[int, list[dict[str, Any]]]
T = TypeVar("T")


class CatalogCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = -1
        self._listing: Listing | None = None
        self._groups: dict[int | None, Groups] = {}
        self._derived: dict[str, Any] = {}
        self.loads = 0  # how many times the rows were read from the database (tests)

    def read(self, s: Session, organisation_id: int | None) -> tuple[Listing, Groups]:
        """``repos.camera_listing`` and ``repos.groups_by_camera(organisation_id)`` as of this transaction
        (or newer). Treat both as read-only: they are shared by every request."""
        version = rights_version.catalog(s)
        with self._lock:
            if version != self._version:
                self._version, self._listing, self._groups, self._derived = version, None, {}, {}
            listing, groups = self._listing, self._groups.get(organisation_id)
        if listing is None:
            listing = repos.camera_listing(s)
        if groups is None:
            groups = repos.groups_by_camera(s, organisation_id)
        if version >= 0:  # -1: a database without the counter (before migration 0023) is never cached
            with self._lock:
                if version == self._version:
                    if self._listing is None:
                        self._listing = listing
                        self.loads += 1
                    self._groups.setdefault(organisation_id, groups)
        return listing, groups

    def derived(self, listing: Listing, key: str, build: Callable[[], T]) -> T:
        """``build()``, kept with ``listing`` while it is the cached one (what a layer above makes of the
        rows, e.g. the cameras' base views); built afresh for any other listing."""
        with self._lock:
            if listing is not self._listing:
                return build()
            if key in self._derived:
                return self._derived[key]  # type: ignore[no-any-return,unused-ignore]
        value = build()
        with self._lock:
            if listing is self._listing:
                self._derived.setdefault(key, value)
        return value
