"""release statistics by plan version too, so regression reports compare like with like

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 16:30:00

event_version_stats and violation_stats gain `plan_version` (0 for events judged by no plan):
a release judged by plan v1 and one judged by a stricter v2 were compared as if the plan had not
changed. Statistics are aggregates: every statistics table is emptied and the watermark reset,
so the next runs count every stored event again (as 0007 did).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def _tables(with_plan: bool) -> None:
    plan = [sa.Column("plan_version", sa.Integer(), nullable=False)] if with_plan else []
    plan_key = ["plan_version"] if with_plan else []
    op.create_table(
        "event_version_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("hour", UTC_TIME, nullable=False),
        sa.Column("event_name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("app_version", sa.String(length=64), nullable=False),
        *plan,
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "hour", "event_name", "status", "app_version", *plan_key),
    )
    op.create_table(
        "violation_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("hour", UTC_TIME, nullable=False),
        sa.Column("event_name", sa.String(length=255), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("app_version", sa.String(length=64), nullable=False),
        *plan,
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "app_id", "hour", "event_name", "rule", "path", "app_version", *plan_key
        ),
    )


def _rebuild(with_plan: bool) -> None:
    op.drop_table("violation_stats")
    op.drop_table("event_version_stats")
    _tables(with_plan)
    op.execute("DELETE FROM event_stats")
    op.execute("DELETE FROM event_minute_stats")
    op.execute("DELETE FROM stat_watermarks")


def upgrade():
    _rebuild(with_plan=True)


def downgrade():
    _rebuild(with_plan=False)
