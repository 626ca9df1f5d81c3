"""What a process does: ``ronda serve --role recorder|api|events|analytics|all`` (docs/cluster.md).

``all`` is the single box: every role in one process (the default). On a site with many nodes each
process runs some of them: recorders record the cameras they hold a lease for (and run their analytics,
which reads the fragments they write), API nodes answer the HTTP API and the WebSockets, events nodes run
the rules, alarms and notifications. Several roles may be given, separated by commas.
"""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["recorder", "api", "events", "analytics"]
ROLES: tuple[Role, ...] = get_args(Role)
ALL = "all"


class RoleError(ValueError):
    pass


def parse_roles(text: str) -> frozenset[Role]:
    """``"all"`` or a comma-separated list of roles, as the command line gives them."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise RoleError("no role given: one of all, " + ", ".join(ROLES))
    if ALL in names:
        if len(names) > 1:
            raise RoleError("'all' is every role already: give it alone")
        return frozenset(ROLES)
    unknown = [n for n in names if n not in ROLES]
    if unknown:
        raise RoleError(f"unknown role {unknown[0]!r}: one of all, " + ", ".join(ROLES))
    return frozenset(n for n in ROLES if n in names)
