"""alarms.owner_name: an alarm taken by a user of a peer site (federation)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 11:00:00.000000

A central user of a peer site may now take, hold, comment and close an alarm of the cameras granted to that
peer (docs/cluster.md "Federation"). Such a user has no row in ``users``, so ``owner_id`` cannot name them:
``owner_name`` holds ``user@peer`` while ``owner_id`` is NULL. One nullable column; the downgrade drops it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alarms") as batch_op:
        batch_op.add_column(sa.Column("owner_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alarms") as batch_op:
        batch_op.drop_column("owner_name")
