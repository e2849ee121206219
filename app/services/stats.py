"""Per-hour counts for the dashboard: events by name and status, violations by rule and path."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, text

from app.extensions import db
from app.models import Event, EventStat, ViolationStat
from app.models.types import UtcDateTime, utcnow

# The violations of each event in a time range, counted by hour, event, rule and exact path.
_VIOLATIONS_SQL = {
    "postgresql": """
        SELECT date_trunc('hour', e.received_at, 'UTC'), e.event_name, v->>'rule', v->>'path',
               count(*)
        FROM events e CROSS JOIN LATERAL jsonb_array_elements(e.violations) AS v
        WHERE e.app_id = :app_id AND e.received_at >= :start AND e.received_at < :end
        GROUP BY 1, 2, 3, 4""",
    "sqlite": """
        SELECT strftime('%Y-%m-%d %H:00:00', e.received_at), e.event_name,
               json_extract(v.value, '$.rule'), json_extract(v.value, '$.path'), count(*)
        FROM events e, json_each(e.violations) AS v
        WHERE e.app_id = :app_id AND e.received_at >= :start AND e.received_at < :end
        GROUP BY 1, 2, 3, 4""",
}
_INDEX = re.compile(r"/\d+(?=/|$)")


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
    violations = _violation_counts(app_id, start, end)
    db.session.execute(
        delete(ViolationStat).where(
            ViolationStat.app_id == app_id, ViolationStat.hour >= start, ViolationStat.hour < end
        )
    )
    db.session.add_all(
        ViolationStat(app_id=app_id, hour=hour, event_name=name, rule=rule, path=path, count=n)
        for (hour, name, rule, path), n in violations.items()
    )
    db.session.commit()
    return len(counts)


def general_path(path: str) -> str:
    """A violation's path with array indices as `*`: /items/3/sku and /items/0/sku are one."""
    return _INDEX.sub("/*", path)[:512]


def _violation_counts(app_id: int, start: datetime, end: datetime) -> Counter:
    statement = text(_VIOLATIONS_SQL[db.engine.dialect.name]).bindparams(
        bindparam("start", type_=UtcDateTime), bindparam("end", type_=UtcDateTime)
    )
    rows = db.session.execute(statement, {"app_id": app_id, "start": start, "end": end})
    counts: Counter = Counter()
    for hour, name, rule, path, count in rows:
        counts[_as_hour(hour), name, str(rule)[:64], general_path(str(path))] += count
    return counts
