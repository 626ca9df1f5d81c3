"""cluster: recorder nodes, camera leases, where each segment lives

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 13:10:00.000000

Issue 15 (docs/cluster.md). ``nodes`` are the processes of a site that registered (name, roles, the URL
other nodes reach them at, capacity, last heartbeat, epoch); ``camera_leases`` says which recorder node
records a camera and under which fencing epoch; segments say which node wrote them and whether they are on
that node's disk (``local``) or in the object store (``archive``, with the object key); cameras may name the
recorder nodes allowed to record them (``node_affinity``). The downgrade drops all of it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "camera_leases",
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("acquired_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("camera_id"),
    )
    op.create_index("ix_camera_leases_node", "camera_leases", ["node"])
    with op.batch_alter_table("segments") as b:
        b.add_column(sa.Column("node", sa.String(length=64), nullable=False, server_default="local"))
        b.add_column(sa.Column("location", sa.String(length=8), nullable=False, server_default="local"))
        b.add_column(sa.Column("archive_key", sa.Text(), nullable=True))
    op.create_index("ix_segments_location_start", "segments", ["location", "start_ms"])
    with op.batch_alter_table("cameras") as b:
        b.add_column(sa.Column("node_affinity", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as b:
        b.drop_column("node_affinity")
    op.drop_index("ix_segments_location_start", table_name="segments")
    with op.batch_alter_table("segments") as b:
        b.drop_column("archive_key")
        b.drop_column("location")
        b.drop_column("node")
    op.drop_index("ix_camera_leases_node", table_name="camera_leases")
    op.drop_table("camera_leases")
    op.drop_table("nodes")
