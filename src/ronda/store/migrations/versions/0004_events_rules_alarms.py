"""events rules alarms

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 15:51:37.108684
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('alarms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('priority_num', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('instructions', sa.Text(), nullable=False),
    sa.Column('camera_id', sa.Integer(), nullable=True),
    sa.Column('cameras', sa.JSON(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('incident_key', sa.String(length=200), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('pre_alarm_s', sa.Integer(), nullable=False),
    sa.Column('escalate_after_s', sa.Integer(), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('auto_close_on', sa.JSON(), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('first_event_ms', sa.BigInteger(), nullable=False),
    sa.Column('last_event_ms', sa.BigInteger(), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.Column('acknowledged_ms', sa.BigInteger(), nullable=True),
    sa.Column('closed_ms', sa.BigInteger(), nullable=True),
    sa.Column('close_reason', sa.String(length=500), nullable=True),
    sa.Column('notify', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.create_index('ix_alarms_incident', ['incident_key', 'state'], unique=False)
        batch_op.create_index('ix_alarms_state_priority', ['state', 'priority_num'], unique=False)

    op.create_table('rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('trigger', sa.JSON(), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('actions', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.Column('updated_ms', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('alarm_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('alarm_id', sa.Integer(), nullable=False),
    sa.Column('time_ms', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('text', sa.String(length=2000), nullable=False),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['alarm_id'], ['alarms.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alarm_entries', schema=None) as batch_op:
        batch_op.create_index('ix_alarm_entries_alarm', ['alarm_id', 'id'], unique=False)

    op.create_table('alarm_events',
    sa.Column('alarm_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['alarm_id'], ['alarms.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('alarm_id', 'event_id')
    )
    op.create_table('notification_prefs',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('quiet_hours', sa.JSON(), nullable=True),
    sa.Column('min_priority', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('push_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=1000), nullable=False),
    sa.Column('p256dh', sa.String(length=200), nullable=False),
    sa.Column('auth', sa.String(length=100), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('endpoint')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uid', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('cameras', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('text', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('snapshot', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('box', sa.JSON(), nullable=True))
        batch_op.create_index('ux_events_uid', ['uid'], unique=True)




def downgrade() -> None:

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ux_events_uid')
        batch_op.drop_column('box')
        batch_op.drop_column('snapshot')
        batch_op.drop_column('text')
        batch_op.drop_column('cameras')
        batch_op.drop_column('uid')

    op.drop_table('push_subscriptions')
    op.drop_table('notification_prefs')
    op.drop_table('alarm_events')
    with op.batch_alter_table('alarm_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_alarm_entries_alarm')

    op.drop_table('alarm_entries')
    op.drop_table('rules')
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.drop_index('ix_alarms_state_priority')
        batch_op.drop_index('ix_alarms_incident')

    op.drop_table('alarms')

