"""plates: plate reads, hotlists and allowlists

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 06:00:00.000000

New tables only (docs/analytics.md, "Licence plates"); the downgrade drops them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "plate_reads",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("plate_key", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("box", sa.JSON(), nullable=True),
        sa.Column("crop", sa.String(length=500), nullable=True),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("track", sa.BigInteger(), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=True),
        sa.Column("hotlist_id", sa.Integer(), nullable=True),
        sa.Column("allowlist_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_plate_reads_cam_time", "plate_reads", ["camera_id", "time_ms"])
    op.create_index("ix_plate_reads_key_time", "plate_reads", ["plate_key", "time_ms"])
    op.create_index("ix_plate_reads_time", "plate_reads", ["time_ms"])
    op.create_table(
        "plate_lists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_plate_lists_org", "plate_lists", ["organisation_id"])
    op.create_table(
        "plate_list_entries",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("plate_key", sa.String(length=16), nullable=False),
        sa.Column("pattern", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("valid_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["plate_lists.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_plate_list_entries_key", "plate_list_entries", ["plate_key"])
    op.create_index("ux_plate_list_entries_list_plate", "plate_list_entries", ["list_id", "plate"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_plate_list_entries_list_plate", table_name="plate_list_entries")
    op.drop_index("ix_plate_list_entries_key", table_name="plate_list_entries")
    op.drop_table("plate_list_entries")
    op.drop_index("ix_plate_lists_org", table_name="plate_lists")
    op.drop_table("plate_lists")
    op.drop_index("ix_plate_reads_time", table_name="plate_reads")
    op.drop_index("ix_plate_reads_key_time", table_name="plate_reads")
    op.drop_index("ix_plate_reads_cam_time", table_name="plate_reads")
    op.drop_table("plate_reads")
