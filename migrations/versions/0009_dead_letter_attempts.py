"""dead letters count their attempts and are discarded, not deleted

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 14:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attempts", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
        batch_op.add_column(sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_column("discarded_at")
        batch_op.drop_column("attempts")
