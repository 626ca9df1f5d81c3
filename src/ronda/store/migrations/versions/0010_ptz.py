"""ptz: dome settings and reservations, preset names, patrols

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 23:30:00.000000

New tables only (docs/ptz.md); the downgrade drops them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ptz_cameras",
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("idle_home_s", sa.Integer(), nullable=False),
        sa.Column("patrol_id", sa.Integer(), nullable=True),
        sa.Column("reserved_by", sa.String(length=200), nullable=True),
        sa.Column("reserved_priority", sa.Integer(), nullable=True),
        sa.Column("reserved_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("camera_id"),
    )
    op.create_table(
        "ptz_preset_names",
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("camera_id", "token"),
    )
    op.create_table(
        "ptz_patrols",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("time_profile_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("camera_id", "name"),
    )
    op.create_index("ix_ptz_patrols_camera_id", "ptz_patrols", ["camera_id"])


def downgrade() -> None:
    op.drop_index("ix_ptz_patrols_camera_id", table_name="ptz_patrols")
    op.drop_table("ptz_patrols")
    op.drop_table("ptz_preset_names")
    op.drop_table("ptz_cameras")
