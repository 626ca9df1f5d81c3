"""map positions: what the camera looks at (direction, fov, range_m)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 23:50:00.000000

The geographic map draws each camera's view as a cone: its direction (degrees clockwise from north),
field of view (degrees) and range (metres). Nullable: a camera placed before keeps no cone until an
administrator sets one.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = ("direction", "fov", "range_m")


def upgrade() -> None:
    with op.batch_alter_table("map_positions", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("map_positions", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
