"""events partitioned by day of received_at (PostgreSQL); partial indexes for optional columns

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 04:00:00

PostgreSQL: `events` becomes a table partitioned by range of `received_at`, one partition per
UTC day in the schema `event_partitions` (`events_pYYYYMMDD`) and a DEFAULT partition
(`events_default`) for any time no day covers, so no accepted event is ever refused. The old
table is renamed, its rows copied with their ids, and dropped; the id sequence is kept (its
next value does not move). Partitions are made for every day that has rows and for yesterday to
a week ahead; beat makes the next ones (app/services/storage/partitions.py).

A partitioned table's unique keys must hold the partition key: the primary key becomes
(id, received_at), `task_id`'s unique key (task_id, received_at). received_at is fixed when
the event is admitted and travels in the queued message, so a redelivered message still
conflicts with its stored row.

Both databases: the indexes of test_run, app_version and device_id leave out the rows without a
value (a filter by a value never matches them), the test-run index covers status.
docs/perf/indexes.md and docs/partitions.md explain.

SQLite (micro) stays one plain table: only the unique key and the indexes change.
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SCHEMA = "event_partitions"
AHEAD_DAYS = 7  # as app/services/storage/partitions.py, copied: a migration must not change
UTC_TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# The indexes of both databases after this migration: (name, columns, partial on, include).
INDEXES = (
    ("ix_events_app_id_id", ["app_id", "id"], None, None),
    ("ix_events_app_status_id", ["app_id", "status", "id"], None, None),
    ("ix_events_app_name_id", ["app_id", "event_name", "id"], None, None),
    ("ix_events_app_test_run_id", ["app_id", "test_run", "id"], "test_run", ["status"]),
    ("ix_events_app_version_id", ["app_id", "app_version", "id"], "app_version", None),
    ("ix_events_app_device_id", ["app_id", "device_id", "id"], "device_id", None),
    ("ix_events_app_received_at", ["app_id", "received_at"], None, None),
)
CHANGED = ("ix_events_app_test_run_id", "ix_events_app_version_id", "ix_events_app_device_id")
OLD_INDEXES = {
    "ix_events_app_test_run_id": ["app_id", "test_run", "id"],
    "ix_events_app_version_id": ["app_id", "app_version", "id"],
    "ix_events_app_device_id": ["app_id", "device_id", "id"],
}


def _columns() -> list[sa.Column]:
    """The columns of `events` as 0001 and later made them (id's default set apart)."""
    return [
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("event_name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("violations", JSON, nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("anonymous_id", sa.String(length=255), nullable=True),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.Column("sent_at", UTC_TIME, nullable=True),
        sa.Column("client_timestamp", UTC_TIME, nullable=True),
        sa.Column("timestamp", UTC_TIME, nullable=False),
        sa.Column("app_version", sa.String(length=64), nullable=True),
        sa.Column("os_name", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=255), nullable=True),
        sa.Column("library_name", sa.String(length=128), nullable=True),
        sa.Column("library_version", sa.String(length=64), nullable=True),
        sa.Column("test_run", sa.String(length=255), nullable=True),
        sa.Column("stored_at", UTC_TIME, nullable=False),
    ]


def _create_indexes(old: bool = False) -> None:
    for name, columns, partial, include in INDEXES:
        if old and name in OLD_INDEXES:
            op.create_index(name, "events", OLD_INDEXES[name])
            continue
        where = sa.text(f"{partial} IS NOT NULL") if partial else None
        op.create_index(
            name,
            "events",
            columns,
            postgresql_where=where,
            sqlite_where=where,
            postgresql_include=include or [],
        )


def _day_bound(day) -> str:
    return f"'{day.isoformat()} 00:00:00+00'"


def _copy_columns(bind) -> str:
    names = [c.name for c in _columns()]
    return ", ".join(f'"{n}"' for n in names)


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        _upgrade_sqlite()
        return
    # Free the names the new table takes; the old table's indexes go (it is dropped below).
    op.execute("ALTER TABLE events RENAME TO events_unpartitioned")
    op.execute("ALTER TABLE events_unpartitioned RENAME CONSTRAINT events_pkey TO events_old_pkey")
    op.execute(
        "ALTER TABLE events_unpartitioned RENAME CONSTRAINT events_task_id_key "
        "TO events_old_task_id_key"
    )
    op.execute(
        "ALTER TABLE events_unpartitioned RENAME CONSTRAINT events_app_id_fkey "
        "TO events_old_app_id_fkey"
    )
    for name, _, _, _ in INDEXES:
        op.execute(f"DROP INDEX {name}")
    # The sequence outlives the old table: the new one takes it over, values and all.
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY NONE")
    op.create_table(
        "events",
        *_columns(),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", "received_at", name="events_pkey"),
        sa.UniqueConstraint("task_id", "received_at", name="uq_events_task_id_received_at"),
        postgresql_partition_by="RANGE (received_at)",
    )
    op.execute("ALTER TABLE events ALTER COLUMN id SET DEFAULT nextval('events_id_seq')")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    _create_indexes()
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.execute(f"CREATE TABLE {SCHEMA}.events_default PARTITION OF events DEFAULT")
    today = datetime.now(UTC).date()
    days = {today + timedelta(days=n) for n in range(-1, AHEAD_DAYS + 1)}
    days |= set(
        bind.execute(
            sa.text(
                "SELECT DISTINCT (received_at AT TIME ZONE 'UTC')::date FROM events_unpartitioned"
            )
        ).scalars()
    )
    for day in sorted(days):
        op.execute(
            f"CREATE TABLE {SCHEMA}.events_p{day:%Y%m%d} PARTITION OF events FOR VALUES "
            f"FROM ({_day_bound(day)}) TO ({_day_bound(day + timedelta(days=1))})"
        )
    columns = _copy_columns(bind)
    op.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM events_unpartitioned")
    op.execute("DROP TABLE events_unpartitioned")


def _upgrade_sqlite() -> None:
    # 0001 made task_id's unique key without a name: name it here to drop it (batch mode
    # rebuilds the table).
    naming = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
    with op.batch_alter_table("events", naming_convention=naming) as batch:
        batch.drop_constraint("uq_events_task_id", type_="unique")
        batch.create_unique_constraint("uq_events_task_id_received_at", ["task_id", "received_at"])
    for name in CHANGED:
        op.drop_index(name, table_name="events")
    for name, columns, partial, _ in INDEXES:
        if name in CHANGED:
            op.create_index(name, "events", columns, sqlite_where=sa.text(f"{partial} IS NOT NULL"))


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        for name in CHANGED:
            op.drop_index(name, table_name="events")
        with op.batch_alter_table("events") as batch:
            batch.drop_constraint("uq_events_task_id_received_at", type_="unique")
            batch.create_unique_constraint("events_task_id_key", ["task_id"])
        for name in CHANGED:
            op.create_index(name, "events", OLD_INDEXES[name])
        return
    op.execute("ALTER TABLE events RENAME TO events_partitioned")
    op.execute("ALTER TABLE events_partitioned RENAME CONSTRAINT events_pkey TO events_p_pkey")
    op.execute(
        "ALTER TABLE events_partitioned RENAME CONSTRAINT events_app_id_fkey "
        "TO events_p_app_id_fkey"
    )
    for name, _, _, _ in INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY NONE")
    op.create_table(
        "events",
        *_columns(),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="events_pkey"),
        sa.UniqueConstraint("task_id", name="events_task_id_key"),
    )
    op.execute("ALTER TABLE events ALTER COLUMN id SET DEFAULT nextval('events_id_seq')")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    _create_indexes(old=True)
    columns = _copy_columns(bind)
    op.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM events_partitioned")
    op.execute("DROP TABLE events_partitioned")
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
