"""Per-hour, per-event-name, per-status counts for the dashboard's charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import Event, EventStat
from app.models.types import utcnow


def _hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _hour_bucket():
    """The hour of Event.received_at, computed by the database."""
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc("hour", Event.received_at, "UTC")
    return func.strftime("%Y-%m-%d %H:00:00", Event.received_at)


def _as_hour(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite answers text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def aggregate(app_id: int, hours: int, now: datetime | None = None) -> int:
    """Recount the last `hours` whole hours (and the current one) of an app.

    Each hour in the window is counted afresh and replaces what was there, so running it again
    counts nothing twice. Returns the number of (hour, name, status) rows written.
    """
    end = _hour(now or utcnow()) + timedelta(hours=1)
    start = end - timedelta(hours=hours + 1)
    bucket = _hour_bucket()
    rows = db.session.execute(
        select(bucket, Event.event_name, Event.status, func.count())
        .where(Event.app_id == app_id, Event.received_at >= start, Event.received_at < end)
        .group_by(bucket, Event.event_name, Event.status)
    )
    counts = {(_as_hour(hour), name, status): count for hour, name, status, count in rows}
    db.session.execute(
        delete(EventStat).where(
            EventStat.app_id == app_id, EventStat.hour >= start, EventStat.hour < end
        )
    )
    now_ts = utcnow()
    db.session.add_all(
        EventStat(
            app_id=app_id, hour=hour, event_name=name, status=status, count=count, updated_at=now_ts
        )
        for (hour, name, status), count in counts.items()
    )
    db.session.commit()
    return len(counts)
