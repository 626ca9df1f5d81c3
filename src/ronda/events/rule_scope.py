"""How far a rule reaches, and whether its author (or a reader) may reach that far.

A rule's *reach* is every camera whose events it reacts to or whose video it acts on: the trigger's
cameras, the cameras of the trigger's groups (as they are now), an alarm's related cameras, a PTZ
preset's camera. ``None`` means every camera (no camera or group named). Rules are global-right objects
scoped like the rest (docs/access.md): a site-scope holder of ``manage_cameras`` may reach everything;
an organisation's rule author only cameras its organisation owns; and every author other than a site
administrator only cameras it can watch live or manage. The same test decides who may read, change or
delete a stored rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ronda.access.rights import LIVE, MANAGE_CAMERAS, Permissions
from ronda.events.rules import PtzPreset, RaiseAlarm, RuleError, RuleSpec
from ronda.store import access_models as am
from ronda.timeutil import now_ms


def _reach(
    s: Session, cameras: Iterable[int] | None, groups: Iterable[int] | None, acted: Iterable[int]
) -> set[int] | None:
    if cameras is None and groups is None:
        return None
    out = set(cameras or ())
    group_ids = sorted(set(groups or ()))
    if group_ids:
        out |= set(
            s.scalars(select(am.CameraGroupMember.camera_id).where(am.CameraGroupMember.group_id.in_(group_ids)))
        )
    return out | set(acted)


def spec_reach(s: Session, spec: RuleSpec) -> tuple[set[int] | None, set[int]]:
    """(reach, acted-on cameras) of a rule being written."""
    acted: set[int] = set()
    for a in spec.actions:
        if isinstance(a, RaiseAlarm):
            acted |= set(a.related_cameras)
        if isinstance(a, PtzPreset):
            acted.add(a.camera)
    reach = _reach(s, spec.trigger.cameras, spec.trigger.groups, acted)
    return reach, acted


def stored_reach(s: Session, trigger: Mapping[str, Any], actions: Iterable[Mapping[str, Any]]) -> set[int] | None:
    """The reach of a stored rule (its JSON columns)."""
    acted: set[int] = set()
    for a in actions:
        if not isinstance(a, Mapping):
            continue
        if a.get("type") == "raise_alarm":
            acted |= {c for c in a.get("related_cameras") or () if isinstance(c, int)}
        if a.get("type") == "ptz_preset" and isinstance(a.get("camera"), int):
            acted.add(a["camera"])
    cams = trigger.get("cameras") if isinstance(trigger, Mapping) else None
    groups = trigger.get("groups") if isinstance(trigger, Mapping) else None
    return _reach(s, cams, groups, acted)


def may_reach(
    s: Session, perms: Permissions, reach: set[int] | None, groups: Iterable[int] | None = None
) -> str | None:
    """None when ``perms`` may hold a rule of this reach; otherwise the reason."""
    t = now_ms()
    if perms.site_scope and perms.has_global(MANAGE_CAMERAS, t):
        return None
    if reach is None:
        return "a rule for every camera needs a site administrator; list cameras or groups"
    if not perms.site_scope:
        foreign = sorted(c for c in reach if not perms.owns_camera(c))
        if foreign:
            return f"you may not create rules about camera {foreign[0]} (not your organisation's)"
        own_groups = set(
            s.scalars(select(am.CameraGroup.id).where(am.CameraGroup.organisation_id == perms.organisation_id))
        )
        bad = sorted(set(groups or ()) - own_groups)
        if bad:
            return f"you may not create rules about camera group {bad[0]} (not your organisation's)"
    for cid in sorted(reach):
        if not (perms.can(LIVE, cid, t) or perms.can(MANAGE_CAMERAS, cid, t)):
            return f"you may not create rules about camera {cid}"
    return None


def check_author(s: Session, perms: Permissions, spec: RuleSpec) -> None:
    reach, _ = spec_reach(s, spec)
    why = may_reach(s, perms, reach, spec.trigger.groups)
    if why is not None:
        raise RuleError(why)
