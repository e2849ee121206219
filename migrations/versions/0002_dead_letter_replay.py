"""dead letters remember when they were replayed

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_column("replayed_at")
