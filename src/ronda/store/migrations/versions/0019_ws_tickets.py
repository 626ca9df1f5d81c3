"""ws_tickets: WebSocket tickets every API node can redeem

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-06 13:40:00.000000

With several API nodes behind a load balancer, a ticket asked of one node is presented to another: the
tickets of a site with a ``cluster`` section live in the database (hash only, single use, 30 s). A new
table only; the downgrade drops it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ws_tickets",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("token_version", sa.Integer(), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )
    op.create_index("ix_ws_tickets_expires", "ws_tickets", ["expires_ms"])


def downgrade() -> None:
    op.drop_index("ix_ws_tickets_expires", table_name="ws_tickets")
    op.drop_table("ws_tickets")
