"""The caller as the API shows it to itself: who, which roles, which rights now, on which cameras."""

from __future__ import annotations

from typing import Any

from ronda.access.rights import RIGHTS_ORDER
from ronda.access.service import Principal
from ronda.store import repos
from ronda.store.db import Database
from ronda.timeutil import now_ms


def me_view(caller: Principal) -> dict[str, Any]:
    rights = caller.permissions.all_rights(now_ms())
    return {
        "id": caller.user_id,
        "username": caller.username,
        "roles": caller.roles,
        "organisation_id": caller.organisation_id,
        "rights": [r for r in RIGHTS_ORDER if r in rights],
        "via": caller.via,
    }


def me(db: Database, caller: Principal) -> dict[str, Any]:
    """The caller, its roles, the rights it holds now (on at least one camera) and per visible camera."""
    with db.session() as s:
        cams = [c.id for c in repos.list_cameras(s)]
    out = me_view(caller)
    out["cameras"] = {str(c): sorted(caller.rights_for(c)) for c in sorted(caller.visible(cams))}
    return out
