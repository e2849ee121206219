"""Deleting what is older than it should be kept: events past their app's retention, and
per-minute statistics past a few days (the hourly ones stay, so charts keep their history)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from app.extensions import db
from app.models import Event, EventMinuteStat, TrackedApp
from app.models.types import utcnow

BATCH = 5000  # rows per DELETE: short transactions, no long lock on a busy table
MINUTE_STATS_DAYS = 3  # alerts look back minutes, the overview hours


def delete_old_events(
    default_days: int, max_batches: int, now: datetime | None = None
) -> tuple[int, bool]:
    """Delete up to `max_batches` batches of events older than each app's retention (or
    `default_days`); returns (rows deleted, whether old events remain)."""
    now = now or utcnow()
    deleted = 0
    for app_id, days in db.session.execute(select(TrackedApp.id, TrackedApp.retention_days)).all():
        cutoff = now - timedelta(days=days or default_days)
        while True:
            if max_batches == 0:
                return deleted, True
            ids = (
                select(Event.id)
                .where(Event.app_id == app_id, Event.received_at < cutoff)
                .order_by(Event.id)
                .limit(BATCH)
                .scalar_subquery()
            )
            gone = db.session.execute(delete(Event).where(Event.id.in_(ids))).rowcount
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
