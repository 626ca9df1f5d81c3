"""catalog version counter: the second row of rights_version

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 17:00:00.000000

Row 2 of ``rights_version`` counts changes to what the camera list shows (cameras, their streams,
groups, members, shares, organisations); API processes keep the list's rows and groups in memory and
read them again when it moves (``ronda.store.catalog_cache``). The downgrade deletes the row.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = sa.table("rights_version", sa.column("id", sa.Integer()), sa.column("n", sa.BigInteger()))
    op.bulk_insert(table, [{"id": 2, "n": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM rights_version WHERE id = 2")
