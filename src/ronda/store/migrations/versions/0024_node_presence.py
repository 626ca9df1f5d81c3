"""nodes: every node of a site registers (api, events, analytics too): its version, its clean stop

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 04:00:00.000000

Issue 15 (docs/cluster.md, "The nodes of a site"). ``nodes`` held recorder nodes only; now every process
of a site with a ``cluster`` section registers there, whatever its roles, so the operator sees the whole
cluster. ``version`` is the Ronda version the node runs; ``stopped_ms`` is set by a clean stop (and cleared
at the next start), so a node that stopped on purpose is told apart from one that died (its heartbeat
stopped without it). The downgrade drops both columns.

(Written after 0023 in its branch; chained after the other 0024 of issue 15 when merged.)
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as b:
        b.add_column(sa.Column("version", sa.String(length=64), nullable=True))
        b.add_column(sa.Column("stopped_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as b:
        b.drop_column("stopped_ms")
        b.drop_column("version")
