"""How long plate reads are kept (docs/analytics.md, "Licence plates", Retention): at most
``analytics.plate_retention_days`` and never longer than the footage of their camera. A read goes with
its ``plate.read`` event and its crop file (deleted once the deletion has committed)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from ronda.analytics.plates import repository as repo

log = logging.getLogger(__name__)
DAY_MS = 86_400_000


def _unlink_after_commit(s: Session, data_dir: Path, crops: list[str]) -> None:
    if not crops:
        return
    root = (data_dir / "analytics").resolve()

    def unlink(_s: Session) -> None:
        for rel in crops:
            path = (data_dir / rel).resolve()
            if not path.is_relative_to(root):
                continue  # only ever files analytics wrote
            try:
                path.unlink(missing_ok=True)
            except OSError as e:
                log.warning("plate crop %s not deleted: %s", rel, e)

    event.listen(s, "after_commit", unlink, once=True)


def footage_hook(data_dir: Path) -> Callable[[Session, dict[int, int]], None]:
    """For ``Retention.on_deleted`` (in the deletion's transaction): reads of each camera older than its
    oldest remaining recording go (no recording left: older than the end of what was just deleted)."""

    def prune(s: Session, deleted_until: dict[int, int]) -> None:
        crops: list[str] = []
        for camera_id, until in deleted_until.items():
            oldest = repo.oldest_recording(s, camera_id)
            crops += repo.prune_reads_before(s, camera_id, oldest if oldest is not None else until)
        _unlink_after_commit(s, data_dir, crops)

    return prune


def prune_expired(s: Session, data_dir: Path, now_ms: int, plate_retention_days: float,
                  default_retention_days: float) -> None:  # fmt: skip
    """Periodic (the analytics housekeeping): every read older than ``plate_retention_days`` goes; on a
    camera with no recording at all, also those older than the camera's own retention (its
    ``retention_days``, else ``default_retention_days``), which the footage hook never sees."""
    crops = repo.prune_reads_before(s, None, now_ms - int(plate_retention_days * DAY_MS))
    for camera_id, days in repo.unrecorded_cameras(s):
        keep = min(plate_retention_days, days if days is not None else default_retention_days)
        if keep < plate_retention_days:
            crops += repo.prune_reads_before(s, camera_id, now_ms - int(keep * DAY_MS))
    _unlink_after_commit(s, data_dir, crops)
