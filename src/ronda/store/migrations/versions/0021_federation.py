"""federation: peer sites a remote trusts (with granted camera groups), remote sites a centre reaches

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-06 13:20:00.000000

Issue 15 (docs/cluster.md "Federation"). ``federation_peers`` and ``federation_peer_grants`` at a remote
site; ``federation_sites`` and ``federation_site_access`` at a centre. The downgrade drops all four.
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federation_peers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "federation_peer_grants",
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("camera_group_id", sa.Integer(), nullable=False),
        sa.Column("rights", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["peer_id"], ["federation_peers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["camera_group_id"], ["camera_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("peer_id", "camera_group_id"),
    )
    op.create_table(
        "federation_sites",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "federation_site_access",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("remote_group", sa.String(length=200), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["federation_sites.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_id", "remote_group", "role_id"),
    )


def downgrade() -> None:
    op.drop_table("federation_site_access")
    op.drop_table("federation_sites")
    op.drop_table("federation_peer_grants")
    op.drop_table("federation_peers")
