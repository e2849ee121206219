"""test runs' events counted at admission, and dead letters named by their run

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:45:00

test_run_counts (micro profile; the full profile counts in Redis): per (app, run) the events
accepted for storage and the events blocked, so a run knows when all it sent has settled.
dead_letters gains `test_run` (filled when a dead letter is written for an event of a run), so a
run's dead-lettered events can be counted; older dead letters keep NULL.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "test_run_counts",
        sa.Column("app_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("test_run", sa.String(length=255), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("blocked", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "test_run"),
    )
    with op.batch_alter_table("dead_letters") as batch_op:
        batch_op.add_column(sa.Column("test_run", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_dead_letters_app_test_run", ["app_id", "test_run"])


def downgrade():
    with op.batch_alter_table("dead_letters") as batch_op:
        batch_op.drop_index("ix_dead_letters_app_test_run")
        batch_op.drop_column("test_run")
    op.drop_table("test_run_counts")
