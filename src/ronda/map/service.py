"""What the map API does: list the map for a caller, store a checked plan and its file, place or
remove a camera, and audit each change. Rights are checked by the caller (the API); organisation
scope arrives as the caller's ``visible`` function."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ronda.access.audit import AuditLog
from ronda.devices import registry
from ronda.map import repository as repo
from ronda.map.errors import NotPlaced, PlanMissing
from ronda.map.repository import PlanRecord
from ronda.map.validators import (
    EXTENSION,
    CheckedPlan,
    Position,
    check_camera_reference,
    check_position_for_plan,
    placements,
)
from ronda.store import repos
from ronda.store.db import Database
from ronda.timeutil import now_ms


@dataclass(frozen=True, slots=True)
class MapCamera:
    id: int
    name: str
    status: str
    position: Position | None
    ptz: bool = False


@dataclass(frozen=True, slots=True)
class SiteMapView:
    plan: PlanRecord | None
    cameras: list[MapCamera]


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class SiteMap:
    """The map of one site: its database, its audit log and the folder of its plan file."""

    def __init__(self, db: Database, audit: AuditLog, data_dir: Path) -> None:
        self.db = db
        self.audit = audit
        self.folder = Path(data_dir) / "map"

    def view(self, visible: Callable[[list[int]], set[int]]) -> SiteMapView:
        """The plan (or None) and every camera ``visible`` lets through, placed or not."""
        with self.db.session() as s:
            cams = {c.id: c for c in repos.list_cameras(s)}
            plan = repo.get_plan(s)
            listed = placements(list(cams), repo.positions(s), visible(list(cams)))
            views = {p.camera_id: registry.camera_view(cams[p.camera_id]) for p in listed}
            cameras = [
                MapCamera(p.camera_id, cams[p.camera_id].name, views[p.camera_id]["status"], p.position,
                          bool(views[p.camera_id].get("ptz")))
                for p in listed
            ]  # fmt: skip
        return SiteMapView(plan, cameras)

    def plan_file(self) -> tuple[PlanRecord, Path]:
        with self.db.session() as s:
            plan = repo.get_plan(s)
        path = self.folder / plan.file if plan is not None else None
        if plan is None or path is None or not path.is_file():
            raise PlanMissing()
        return plan, path

    def replace_plan(self, checked: CheckedPlan, actor: str, source_ip: str | None) -> PlanRecord:
        """Store ``checked`` as the plan; camera positions are kept."""
        sha = hashlib.sha256(checked.data).hexdigest()
        # A new name per content: the stored description and the file it names always agree.
        name = f"plan-{sha[:16]}.{EXTENSION[checked.kind]}"
        bounds = list(checked.bounds) if checked.bounds is not None else None
        plan = PlanRecord(kind=checked.kind, file=name, sha256=sha, bytes=len(checked.data), updated_ms=now_ms(),
                          by=actor, width=checked.width, height=checked.height, bounds=bounds,
                          features=checked.features)  # fmt: skip
        with self.db.session() as s:
            # One replacement at a time across processes: otherwise one upload's clean-up could
            # remove the file another has just recorded.
            repo.lock_plan(s)
            _write_atomic(self.folder / name, checked.data)
            repo.put_plan(s, plan)
            self.audit.record(s, actor, "map.plan_upload", "ok", source_ip=source_ip,
                              details={"type": checked.kind, "bytes": len(checked.data), "sha256": sha})  # fmt: skip
        self._remove_unused_files()
        return plan

    def remove_plan(self, actor: str, source_ip: str | None) -> None:
        """Remove the plan (positions are kept for the next one)."""
        with self.db.session() as s:
            repo.lock_plan(s)
            if repo.delete_plan(s) is None:
                raise PlanMissing()
            self.audit.record(s, actor, "map.plan_delete", "ok", source_ip=source_ip)
        self._remove_unused_files()

    def _remove_unused_files(self) -> None:
        """Remove every plan file but the one the committed description names (none after a removal).
        Under the plan lock, so no other upload is between writing its file and committing it."""
        with self.db.session() as s:
            repo.lock_plan(s)
            current = repo.get_plan(s)
            for old in self.folder.glob("plan-*"):
                if current is None or old.name != current.file:
                    old.unlink(missing_ok=True)

    def place(self, camera_id: int, position: Position, actor: str, source_ip: str | None) -> Position:
        """Put a camera at ``position`` (one pair: ``x``/``y`` on an image plan, ``lat``/``lon`` on the
        geographic map or a GeoJSON plan), with its view if given; what ``position`` does not give is
        kept. Returns everything as stored."""
        with self.db.session() as s:
            known = {camera_id} if repos.get_camera(s, camera_id) is not None else set()
            check_camera_reference(camera_id, known)
            plan = repo.get_plan(s)
            check_position_for_plan(plan.kind if plan is not None else None, position)
            stored = repo.upsert_position(s, camera_id, position, now_ms())
            self.audit.record(s, actor, "map.position", "ok", camera_id, source_ip=source_ip, details=position.given())
        return stored

    def take_off(self, camera_id: int, actor: str, source_ip: str | None) -> None:
        """Take the camera off the map."""
        with self.db.session() as s:
            if not repo.delete_position(s, camera_id):
                raise NotPlaced()
            self.audit.record(s, actor, "map.position_delete", "ok", camera_id, source_ip=source_ip)
