"""Rules (their trigger, conditions and actions are described in docs/alarms.md and ``RuleSpec``)."""

from __future__ import annotations

from typing import Any

from ronda.api.schemas import Out


class RuleView(Out):
    id: int
    name: str
    enabled: bool
    trigger: dict[str, Any]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]  # webhook secrets masked
    created_by: str
    created: str | None
    updated: str | None
