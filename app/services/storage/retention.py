"""Deleting what is older than it should be kept: events past their app's retention, and
per-minute statistics past a few days (the hourly ones stay, so charts keep their history).

PostgreSQL (`events` partitioned by day, partitions.py): a day partition whose rows are all
past the longest retention of any app is dropped whole — no row is deleted one by one, no
WAL is written for its rows, no vacuum follows. What that leaves is deleted in batches of
rows: the events of apps whose retention is shorter than the longest, and old rows that sit
in the default partition. An app with the longest retention keeps its events for at least its
`retention_days` and at most a day more (until their day's partition is wholly past). SQLite
(micro): batches of rows, as before. docs/partitions.md explains.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import column, delete, select, table

from app.extensions import db
from app.models import Event, EventMinuteStat, TrackedApp
from app.models.dialect import is_postgresql
from app.models.types import UtcDateTime, utcnow
from app.services.storage import partitions

BATCH = 5000  # rows per DELETE: short transactions, no long lock on a busy table
MINUTE_STATS_DAYS = 3  # alerts look back minutes, the overview hours


def delete_old_events(
    default_days: int, max_batches: int, now: datetime | None = None
) -> tuple[int, bool]:
    """Delete events older than each app's retention (or `default_days`): whole day
    partitions, then up to `max_batches` batches of rows; returns (events deleted, whether
    old events remain)."""
    now = now or utcnow()
    cutoffs = {
        app_id: now - timedelta(days=days or default_days)
        for app_id, days in db.session.execute(select(TrackedApp.id, TrackedApp.retention_days))
    }
    db.session.commit()
    deleted = 0
    rows_of = {app_id: Event.__table__ for app_id in cutoffs}
    if is_postgresql() and cutoffs:
        oldest_kept = min(cutoffs.values())  # the longest retention of any app
        deleted += partitions.drop_partitions_before(oldest_kept)[1]
        # An app with the longest retention has nothing left outside the default partition
        # that its partitions' drop will not take within a day.
        default = table(
            partitions.DEFAULT,
            column("id"),
            column("app_id"),
            column("received_at", UtcDateTime()),
            schema=partitions.SCHEMA,
        )
        for app_id, cutoff in cutoffs.items():
            if cutoff == oldest_kept:
                rows_of[app_id] = default
    for app_id, cutoff in cutoffs.items():
        rows = rows_of[app_id]
        while True:
            if max_batches == 0:
                return deleted, True
            ids = (
                select(rows.c.id)
                .where(rows.c.app_id == app_id, rows.c.received_at < cutoff)
                .order_by(rows.c.id)
                .limit(BATCH)
                .scalar_subquery()
            )
            # received_at here too: only the partitions that can hold such rows are visited.
            gone = db.session.execute(
                delete(rows).where(rows.c.id.in_(ids), rows.c.received_at < cutoff)
            ).rowcount
            db.session.commit()
            deleted += gone
            max_batches -= 1
            if gone < BATCH:
                break
    db.session.execute(
        delete(EventMinuteStat).where(
            EventMinuteStat.minute < now - timedelta(days=MINUTE_STATS_DAYS)
        )
    )
    db.session.commit()
    return deleted, False
