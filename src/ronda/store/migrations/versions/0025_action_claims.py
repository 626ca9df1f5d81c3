"""action_claims: each rule action runs once per event across events nodes

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 04:00:00.000000

With NATS a message not acknowledged in time is delivered to another events node; a rule action
(webhook, bookmark, notification, PTZ preset) runs only on the node that inserted its claim row
(rule, message key, action index), and the row keeps the outcome. A new table only; the downgrade
drops it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_claims",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("message_key", sa.String(length=64), nullable=False),
        sa.Column("action", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_ms", sa.BigInteger(), nullable=False),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("rule_id", "message_key", "action"),
    )
    op.create_index("ix_action_claims_status", "action_claims", ["status", "claimed_ms"])
    op.create_index("ix_action_claims_claimed", "action_claims", ["claimed_ms"])


def downgrade() -> None:
    op.drop_index("ix_action_claims_claimed", table_name="action_claims")
    op.drop_index("ix_action_claims_status", table_name="action_claims")
    op.drop_table("action_claims")
