"""background work: incremental per-minute and per-hour statistics by app version, alert and
retention settings per app, jobs with their uploaded files

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 16:10:00

The statistics tables are rebuilt empty: they are aggregates, and the first incremental run
counts every stored event again (its watermark starts at 0).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def _app_fk():
    return sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE")


def upgrade():
    op.drop_table("violation_stats")
    op.drop_table("event_stats")
    op.create_table(
        "event_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("hour", UTC_TIME, nullable=False),
        sa.Column("event_name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("app_version", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        _app_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "hour", "event_name", "status", "app_version"),
    )
    op.create_table(
        "event_minute_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("minute", UTC_TIME, nullable=False),
        sa.Column("event_name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        _app_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "minute", "event_name", "status"),
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
        sa.Column("count", sa.Integer(), nullable=False),
        _app_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "hour", "event_name", "rule", "path", "app_version"),
    )
    op.create_table(
        "stat_watermarks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("counted_to", sa.BigInteger(), nullable=False),
        sa.Column("seen_max", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("apps") as apps:
        apps.add_column(sa.Column("alert_threshold", sa.Float(), nullable=True))
        apps.add_column(
            sa.Column("alert_window_minutes", sa.Integer(), nullable=False, server_default="10")
        )
        apps.add_column(
            sa.Column("alert_min_events", sa.Integer(), nullable=False, server_default="20")
        )
        apps.add_column(
            sa.Column("alert_cooldown_minutes", sa.Integer(), nullable=False, server_default="60")
        )
        apps.add_column(sa.Column("last_alert_at", UTC_TIME, nullable=True))
        apps.add_column(sa.Column("last_digest_on", sa.Date(), nullable=True))
        apps.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))
    op.execute("UPDATE apps SET alert_threshold = 0.2")
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "params",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("done", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=True),
        sa.Column("heartbeat_at", UTC_TIME, nullable=True),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        _app_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_jobs_app_id", "jobs", ["app_id"])
    op.create_table(
        "job_files",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id"),
    )


def downgrade():
    op.drop_table("job_files")
    op.drop_index("ix_jobs_app_id", table_name="jobs")
    op.drop_table("jobs")
    with op.batch_alter_table("apps") as apps:
        for column in (
            "retention_days",
            "last_digest_on",
            "last_alert_at",
            "alert_cooldown_minutes",
            "alert_min_events",
            "alert_window_minutes",
            "alert_threshold",
        ):
            apps.drop_column(column)
    op.drop_table("stat_watermarks")
    op.drop_table("violation_stats")
    op.drop_table("event_minute_stats")
    op.drop_table("event_stats")
    op.create_table(
        "event_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("hour", UTC_TIME, nullable=False),
        sa.Column("event_name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        _app_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "hour", "event_name", "status"),
    )
    op.create_table(
        "violation_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("hour", UTC_TIME, nullable=False),
        sa.Column("event_name", sa.String(length=255), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        _app_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "hour", "event_name", "rule", "path"),
    )
