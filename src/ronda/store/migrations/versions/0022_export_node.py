"""export_jobs.node: the node whose disk holds an export's package

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 14:20:00.000000

On a site with several API nodes, an export runs on the node that was asked and its package is on that
node's disk; the others fetch it from there for a download, and only that node fails its interrupted jobs
or deletes its old packages (docs/cluster.md). A single box writes "local". The downgrade drops the column.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("export_jobs") as b:
        b.add_column(sa.Column("node", sa.String(length=64), nullable=False, server_default="local"))


def downgrade() -> None:
    with op.batch_alter_table("export_jobs") as b:
        b.drop_column("node")
