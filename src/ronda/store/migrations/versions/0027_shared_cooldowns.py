"""cooldowns: a rule's cooldown and the login-failures event limit, shared by every node

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 08:00:00.000000

Each events node kept a rule's cooldown in its memory and each API node its own once-a-minute limit of
the ``security.login_failures`` event, so with two nodes a burst could fire a rule, or raise the event,
once on each. ``cooldowns`` holds when each last fired (docs/cluster.md "Shared guards"). A new table
only; the downgrade drops it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cooldowns",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("window_ms", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_cooldowns_last", "cooldowns", ["last_ms"])


def downgrade() -> None:
    op.drop_index("ix_cooldowns_last", table_name="cooldowns")
    op.drop_table("cooldowns")
