"""onvif cameras: the device address, what the device said about itself, PTZ capability

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 23:20:00.000000

``onvif_address`` is the device service URL a camera was added by (null: added by RTSP URL);
``onvif_info`` what the device said when it was added or last reconnected (manufacturer, model,
firmware, serial, the main/sub profile tokens, snapshot URI, PTZ profile and limits, clock offset);
``ptz`` whether it can be steered. The ONVIF credentials are the camera's own username and
encrypted password.
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cameras") as b:
        b.add_column(sa.Column("onvif_address", sa.String(2048), nullable=True))
        b.add_column(sa.Column("onvif_info", sa.JSON(), nullable=True))
        b.add_column(sa.Column("ptz", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as b:
        b.drop_column("ptz")
        b.drop_column("onvif_info")
        b.drop_column("onvif_address")
