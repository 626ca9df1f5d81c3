"""analytics: per-camera settings, motion minutes, tracked objects

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 02:45:00.000000

New tables only (docs/analytics.md, "Settings, records and search"); the downgrade drops them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "analytics_settings",
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("camera_id"),
    )
    op.create_table(
        "motion_minutes",
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("cells_any", sa.LargeBinary(), nullable=False),
        sa.Column("max_level", sa.SmallInteger(), nullable=False),
        sa.Column("seconds", sa.SmallInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("camera_id", "minute"),
    )
    op.create_table(
        "analytics_objects",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("track", sa.BigInteger(), nullable=False),
        sa.Column("cls", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.String(length=500), nullable=True),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analytics_objects_cam_time", "analytics_objects", ["camera_id", "first_ms"])
    op.create_index("ix_analytics_objects_class_time", "analytics_objects", ["cls", "first_ms"])


def downgrade() -> None:
    op.drop_index("ix_analytics_objects_class_time", table_name="analytics_objects")
    op.drop_index("ix_analytics_objects_cam_time", table_name="analytics_objects")
    op.drop_table("analytics_objects")
    op.drop_table("motion_minutes")
    op.drop_table("analytics_settings")
