"""map positions: one row per placed camera instead of one JSON value

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 19:30:00.000000

The positions were the ``map.positions`` value of ``system_state`` (``{"<camera id>": {"x", "y",
"lat", "lon"}}``), rewritten whole on every edit behind a lock that only one process saw. The upgrade
moves them into ``map_positions`` (entries naming no camera row are dropped: the foreign key would
refuse them, and the API never listed them); the downgrade writes them back into the JSON value.
"""

import math
import time
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

KEY = "map.positions"
COORDS = ("x", "y", "lat", "lon")

state = sa.table("system_state", sa.column("key", sa.String), sa.column("value", sa.JSON))
cameras = sa.table("cameras", sa.column("id", sa.Integer))
positions = sa.table(
    "map_positions",
    sa.column("camera_id", sa.Integer),
    *(sa.column(c, sa.Float) for c in COORDS),
    sa.column("updated_ms", sa.BigInteger),
)


# The migration keeps its own copy of the number check (ronda.map.validators may change later; what
# this revision does must not).
def _coordinate(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def upgrade() -> None:
    op.create_table(
        "map_positions",
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("x", sa.Float(), nullable=True),
        sa.Column("y", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("camera_id"),
    )
    bind = op.get_bind()
    value = bind.execute(sa.select(state.c.value).where(state.c.key == KEY)).scalar()
    if value is None:
        return
    known = set(bind.execute(sa.select(cameras.c.id)).scalars())
    now = int(time.time() * 1000)
    rows = []
    for key, pos in (value.items() if isinstance(value, dict) else ()):
        cid = int(key) if isinstance(key, str) and key.isdigit() else None
        if cid not in known or not isinstance(pos, dict):
            continue
        row = {c: _coordinate(pos.get(c)) for c in COORDS}
        if any(v is not None for v in row.values()):
            rows.append({"camera_id": cid, **row, "updated_ms": now})
    if rows:
        op.bulk_insert(positions, rows)
    bind.execute(sa.delete(state).where(state.c.key == KEY))


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(positions).order_by(positions.c.camera_id)).mappings().all()
    value = {str(r["camera_id"]): {c: r[c] for c in COORDS if r[c] is not None} for r in rows}
    bind.execute(sa.delete(state).where(state.c.key == KEY))
    if value:
        bind.execute(sa.insert(state).values(key=KEY, value=value))
    op.drop_table("map_positions")
