"""shared guards: the login throttle's state and the federation's seen nonces, for every API node

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 04:00:00.000000

Behind a load balancer each API node kept its own login throttle and its own nonce cache, so an attacker
got one budget of password guesses per node and a federation token could be replayed on a second node.
``login_guards`` holds the throttle's state per account and per client address, ``federation_nonces`` the
nonces of accepted federation tokens (docs/cluster.md). New tables only; the downgrade drops them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_guards",
        sa.Column("key", sa.String(length=210), nullable=False),
        sa.Column("failures_ms", sa.Text(), nullable=False),
        sa.Column("pending_ms", sa.Text(), nullable=False),
        sa.Column("locked_until_ms", sa.BigInteger(), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("touched_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_login_guards_touched", "login_guards", ["touched_ms"])
    op.create_table(
        "federation_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("exp_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index("ix_federation_nonces_exp", "federation_nonces", ["exp_ms"])


def downgrade() -> None:
    op.drop_index("ix_federation_nonces_exp", table_name="federation_nonces")
    op.drop_table("federation_nonces")
    op.drop_index("ix_login_guards_touched", table_name="login_guards")
    op.drop_table("login_guards")
