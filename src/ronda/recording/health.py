"""The health of a node: database, storage and recording, in full and in one word each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from ronda.recording.recorder import Recorder
from ronda.store.db import Database

# Storage states an unauthenticated caller may see (one word each); anything else reads "degraded".
STORAGE_STATES = frozenset({"ok", "disk_full", "locked_full", "volume_missing"})


@dataclass
class Health:
    status: str = "ok"  # ok | degraded
    checks: dict[str, Any] = field(default_factory=dict)  # figures, paths, counts: for site administrators
    brief: dict[str, str] = field(default_factory=dict)  # one word per check: for anyone


def health(db: Database, recorder: Recorder | None) -> Health:
    h = Health()
    degraded = False
    try:
        with db.session() as s:
            s.execute(text("SELECT 1"))
        h.checks["database"] = h.brief["database"] = "ok"
    except Exception as e:  # health must answer even when the database does not
        h.checks["database"] = f"error: {type(e).__name__}"
        h.brief["database"] = "error"
        degraded = True
    if db.outage.down and h.brief["database"] == "ok":
        # SQLite still serves reads while another process holds its write lock: writes fail all the same.
        h.checks["database"] = f"error: writes fail ({db.outage.detail})"
        h.brief["database"] = "error"
        degraded = True
    if recorder is not None:
        storage = dict(recorder.storage)
        h.checks["storage"] = storage
        state = storage.get("state")
        h.brief["storage"] = state if state in STORAGE_STATES else ("ok" if state is None else "degraded")
        if state not in ("ok", None):
            degraded = True
        streams = recorder.streams.values()
        offline = sum(1 for r in streams if r.status.state == "offline")
        h.checks["recording"] = {
            "streams": len(streams),
            "recording": sum(1 for r in streams if r.status.state == "recording"),
            "offline": offline,
        }
        h.brief["recording"] = "degraded" if offline else "ok"
        # Segments recorded while the database was away, whose rows wait (recording/backlog.py).
        h.checks["catalog"] = catalog = recorder.catalog_state
        if catalog["state"] != "ok":
            h.brief["catalog"] = "behind"
            degraded = True
        else:
            h.brief["catalog"] = "ok"
    h.status = "degraded" if degraded else "ok"
    return h
