"""nodes.ttl_ms: each node's own heartbeat TTL, by which the others judge it

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 23:45:00.000000

A node heartbeats every ``cluster.lease_ttl_seconds / 3`` of its own configuration. The others judged it
``down`` (and out of the recorders' fair share) by *their* TTL, so a node configured with a longer TTL than
its viewer was shown down while it ran (docs/cluster.md "Nodes"). Each node now records its TTL when it
registers; a row without one (written before this migration) is judged by the viewer's TTL as before. One
nullable column; the downgrade drops it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch_op:
        batch_op.add_column(sa.Column("ttl_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch_op:
        batch_op.drop_column("ttl_ms")
