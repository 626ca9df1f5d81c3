"""camera RTP transport: cameras.transport and camera_streams.tcp_refused_ms

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 23:20:00.000000

``cameras.transport`` is what the recorder asks the camera for (auto | tcp | udp | http); every
existing camera gets ``auto``, which asks for TCP first as the recorder always did. With ``auto``
the recorder stamps ``camera_streams.tcp_refused_ms`` when a camera refuses TCP, so that a restart
goes straight to UDP instead of being refused again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transport", sa.String(length=8), nullable=False, server_default="auto"))
    with op.batch_alter_table("camera_streams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tcp_refused_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("camera_streams", schema=None) as batch_op:
        batch_op.drop_column("tcp_refused_ms")
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_column("transport")
