"""apps.pii_policy: what personal data in property values does to an event

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 01:00:00

`warn` (the default, for existing apps too): a finding is a warning violation and the event's
status is unchanged; `fail`: it makes a valid event invalid; `off`: values are not scanned.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("apps") as batch:
        batch.add_column(
            sa.Column("pii_policy", sa.String(length=8), nullable=False, server_default="warn")
        )


def downgrade():
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("pii_policy")
