"""The map's SQL: the plan's description (the ``map.plan`` value of ``system_state``) and the
``map_positions`` table (``store/map_models.py``). Every function takes the caller's session, so a
service call is one transaction."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ronda.map.validators import Kind, Position
from ronda.store import repos
from ronda.store.map_models import MapPosition
from ronda.store.models import SystemState

PLAN_KEY = "map.plan"
# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises plan replacements.
_PLAN_LOCK = 0x726F6E64616D6170  # "rondamap"


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """What the stored plan is; ``file`` is its name in ``DATA/map/``. Stored as the JSON value it
    always was (``by`` is the uploader), so plans uploaded before this module read back unchanged."""

    kind: Kind
    file: str
    sha256: str
    bytes: int
    updated_ms: int
    by: str | None = None
    width: int | None = None
    height: int | None = None
    bounds: list[float] | None = None
    features: int | None = None

    @classmethod
    def from_state(cls, value: dict[str, Any]) -> PlanRecord:
        known = {k: value[k] for k in cls.__dataclass_fields__ if k in value}
        return cls(**known)

    def to_state(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def get_plan(s: Session) -> PlanRecord | None:
    value = repos.get_state(s, PLAN_KEY)
    return PlanRecord.from_state(value) if value is not None else None


def lock_plan(s: Session) -> None:
    """Hold the plan for the rest of the transaction, so replacing it (file, row, removal of the
    older files) runs one at a time across every process on the database."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PLAN_LOCK})
    else:
        # SQLite: any write statement, even one that matches nothing, takes the database's write lock.
        s.execute(delete(SystemState).where(SystemState.key == f"{PLAN_KEY}.lock"))


def put_plan(s: Session, plan: PlanRecord) -> None:
    repos.put_state(s, PLAN_KEY, plan.to_state())


def delete_plan(s: Session) -> PlanRecord | None:
    row = s.get(SystemState, PLAN_KEY)
    if row is None:
        return None
    plan = PlanRecord.from_state(dict(row.value))
    s.delete(row)
    return plan


_COLUMNS = (MapPosition.x, MapPosition.y, MapPosition.lat, MapPosition.lon, MapPosition.direction, MapPosition.fov,
            MapPosition.range_m)  # fmt: skip


def _position(row: Any) -> Position:
    return Position(x=row.x, y=row.y, lat=row.lat, lon=row.lon, direction=row.direction, fov=row.fov,
                    range_m=row.range_m)  # fmt: skip


def positions(s: Session) -> dict[int, Position]:
    return {r.camera_id: _position(r) for r in s.scalars(select(MapPosition))}


def upsert_position(s: Session, camera_id: int, position: Position, now_ms: int) -> Position:
    """Set what ``position`` gives (keeping the other pair and the view it leaves out) in one statement, so
    concurrent edits of the same camera end in one of them, never in an error or a mix."""
    given = position.given()
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(MapPosition).values(camera_id=camera_id, updated_ms=now_ms, **given)
    upsert = stmt.on_conflict_do_update(
        index_elements=[MapPosition.camera_id],
        set_={**{k: stmt.excluded[k] for k in given}, "updated_ms": stmt.excluded.updated_ms},
    ).returning(*_COLUMNS)
    return _position(s.execute(upsert).one())


def delete_position(s: Session, camera_id: int) -> bool:
    """Whether the camera had a position."""
    result = s.execute(delete(MapPosition).where(MapPosition.camera_id == camera_id))
    return bool(getattr(result, "rowcount", 0))
