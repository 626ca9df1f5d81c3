"""TOTP enrolments in the database (they were in one process's memory)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 20:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('totp_enrolments',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret_enc', sa.Text(), nullable=False),
    sa.Column('session_id', sa.String(length=64), nullable=True),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.Column('expires_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )
    with op.batch_alter_table('totp_enrolments', schema=None) as batch_op:
        batch_op.create_index('ix_totp_enrolments_expires', ['expires_ms'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('totp_enrolments', schema=None) as batch_op:
        batch_op.drop_index('ix_totp_enrolments_expires')
    op.drop_table('totp_enrolments')
