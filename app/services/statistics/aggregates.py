"""The statistics behind the overview, alerts and regression reports, counted from stored events.

Per minute (app, event, status), per hour (app, event, status), per hour, app version and plan
version (for regression reports, in a table of its own so the overview reads few rows) and
violations per hour (app, event, rule, path, app version, plan version). The plan version lets
a regression report compare releases judged by the same plan.

- **Incremental:** `count_new_events` counts only events stored since its last run: those with
  an id above the watermark `counted_to`. Each run adds its counts to the buckets and moves the
  watermark in one transaction, and it claims the move with a compare-and-set on the old
  watermark. A second run, or a concurrent one, therefore counts nothing twice.
- **Not too early:** on PostgreSQL, a storing transaction may hold a lower id and commit after
  a higher one is visible. A run therefore counts only up to the largest id the *previous* run
  saw, so every storing transaction has had a whole interval to commit. SQLite has one writer
  at a time, so it counts up to the newest id.
- **Recount:** `recount(app_id, hours)` rebuilds one app's buckets of a time range from the raw
  events. It is the on-demand `batch_process_events(app_id, hours)`. It counts only up to the
  watermark, under the watermark's row lock, so the increments that follow do not overlap it.
- **Cheap at any size:** a run reads the new events by primary key and nothing else.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, update

from app.extensions import db
from app.models import (
    Event,
    EventMinuteStat,
    EventStat,
    EventVersionStat,
    StatWatermark,
    ViolationStat,
)
from app.models.dialect import POSTGRESQL, SQLITE, dialect_name, insert, is_postgresql
from app.models.types import UtcDateTime, utcnow

WATERMARK = "events"
_INDEX = re.compile(r"/\d+(?=/|$)")

# Bucket expressions per dialect (received_at is stored in UTC).
_BUCKETS = {
    POSTGRESQL: {
        "minute": "date_trunc('minute', e.received_at, 'UTC')",
        "hour": "date_trunc('hour', e.received_at, 'UTC')",
    },
    SQLITE: {
        "minute": "strftime('%Y-%m-%d %H:%M:00', e.received_at)",
        "hour": "strftime('%Y-%m-%d %H:00:00', e.received_at)",
    },
}
# The violations of each event, one row per violation (a valid event has none, or `pii`
# warnings, which are counted too).
_VIOLATIONS_FROM = {
    POSTGRESQL: (
        "v->>'rule'",
        "v->>'path'",
        "events e CROSS JOIN LATERAL jsonb_array_elements(e.violations) AS v",
    ),
    SQLITE: (
        "json_extract(v.value, '$.rule')",
        "json_extract(v.value, '$.path')",
        "events e, json_each(e.violations) AS v",
    ),
}
# Which events a tally reads: new ones by id, or one app's time range up to the watermark.
_NEW_EVENTS = "e.id > :low AND e.id <= :high"
_APP_RANGE = (
    "e.app_id = :app_id AND e.received_at >= :start AND e.received_at < :end AND e.id <= :high"
)


def general_path(path: str) -> str:
    """A violation's path with array indices as `*`: /items/3/sku and /items/0/sku are one."""
    return _INDEX.sub("/*", path)[:512]


def as_time(value: datetime | str) -> datetime:
    """A time the database answered, as an aware UTC datetime (SQLite answers text)."""
    if isinstance(value, str):  # SQLite answers text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _tally(where: str, params: dict[str, Any]) -> tuple[Counter, Counter, Counter, Counter]:
    """Per-minute, per-hour, per-hour-and-version and violation counts of the events `where`
    selects."""
    dialect = dialect_name()
    minute, hour = _BUCKETS[dialect]["minute"], _BUCKETS[dialect]["hour"]
    rule, path, source = _VIOLATIONS_FROM[dialect]
    times = [bindparam(name, type_=UtcDateTime) for name in ("start", "end") if name in params]

    def run(sql: str):
        return db.session.execute(text(sql).bindparams(*times), params)

    minutes: Counter = Counter()
    for app_id, at, name, status, n in run(
        f"SELECT e.app_id, {minute}, e.event_name, e.status, count(*) FROM events e "
        f"WHERE {where} GROUP BY 1, 2, 3, 4"
    ):
        minutes[app_id, as_time(at), name, status] += n
    hours: Counter = Counter()
    versions: Counter = Counter()
    for app_id, at, name, status, version, plan, n in run(
        f"SELECT e.app_id, {hour}, e.event_name, e.status, coalesce(e.app_version, ''), "
        f"coalesce(e.plan_version, 0), count(*) FROM events e WHERE {where} "
        "GROUP BY 1, 2, 3, 4, 5, 6"
    ):
        versions[app_id, as_time(at), name, status, version, plan] += n
        hours[app_id, as_time(at), name, status] += n
    violations: Counter = Counter()
    for app_id, at, name, v_rule, v_path, version, plan, n in run(
        f"SELECT e.app_id, {hour}, e.event_name, {rule}, {path}, coalesce(e.app_version, ''), "
        f"coalesce(e.plan_version, 0), count(*) FROM {source} WHERE {where} "
        "GROUP BY 1, 2, 3, 4, 5, 6, 7"
    ):
        at = as_time(at)
        key = (app_id, at, name, str(v_rule)[:64], general_path(str(v_path)), version, plan)
        violations[key] += n
    return minutes, hours, versions, violations


_KEYS = {
    EventMinuteStat: ("app_id", "minute", "event_name", "status"),
    EventStat: ("app_id", "hour", "event_name", "status"),
    EventVersionStat: ("app_id", "hour", "event_name", "status", "app_version", "plan_version"),
    ViolationStat: ("app_id", "hour", "event_name", "rule", "path", "app_version", "plan_version"),
}


def _add(model: type, counts: Counter) -> None:
    """Add counts to their buckets (creating the missing ones) in one statement."""
    if not counts:
        return
    keys = _KEYS[model]
    statement = insert(model)
    changes = {"count": model.count + statement.excluded.count}
    rows = [{**dict(zip(keys, key, strict=True)), "count": n} for key, n in counts.items()]
    if model is EventStat:
        changes["updated_at"] = statement.excluded.updated_at
        now = utcnow()
        for row in rows:
            row["updated_at"] = now
    db.session.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes), rows)


def _watermark() -> StatWatermark:
    mark = db.session.get(StatWatermark, WATERMARK)
    if mark is None:
        # Two first runs at once (beat and "Recount now") both find no row: the second insert
        # is a no-op instead of a unique violation.
        db.session.execute(
            insert(StatWatermark)
            .values(name=WATERMARK, counted_to=0, seen_max=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        db.session.commit()
        mark = db.session.get(StatWatermark, WATERMARK)
    return mark


def count_new_events() -> int:
    """Count the events stored since the last run into the statistics; returns how many."""
    mark = _watermark()
    low, seen = mark.counted_to, mark.seen_max
    newest = db.session.scalar(select(func.max(Event.id))) or 0
    high = seen if is_postgresql() else newest
    claimed = db.session.execute(
        update(StatWatermark)
        .where(StatWatermark.name == WATERMARK, StatWatermark.counted_to == low)
        .values(counted_to=max(high, low), seen_max=newest, updated_at=utcnow())
    )
    if claimed.rowcount != 1:  # another run moved it first: it counts these events
        db.session.rollback()
        return 0
    counted = 0
    if high > low:
        minutes, hours, versions, violations = _tally(_NEW_EVENTS, {"low": low, "high": high})
        _add(EventMinuteStat, minutes)
        _add(EventStat, hours)
        _add(EventVersionStat, versions)
        _add(ViolationStat, violations)
        counted = sum(minutes.values())
    db.session.commit()
    return counted


# Ten years: more than any retention keeps, and far from the calendar's end (a window of
# millions of hours starts before year 1).
MAX_RECOUNT_HOURS = 24 * 366 * 10


def recount(app_id: int, hours: int, now: datetime | None = None) -> int:
    """Rebuild an app's statistics of the last `hours` whole hours and the current one from its
    stored events (up to the watermark); returns how many events they count."""
    mark = _watermark()
    high = mark.counted_to
    # Hold the watermark while rebuilding: an increment cannot run in between (PostgreSQL
    # waits on the row lock; SQLite on the write lock this update takes).
    held = db.session.execute(
        update(StatWatermark)
        .where(StatWatermark.name == WATERMARK, StatWatermark.counted_to == high)
        .values(updated_at=utcnow())
    )
    if held.rowcount != 1:
        db.session.rollback()
        return recount(app_id, hours, now)
    end = (now or utcnow()).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours + 1)
    params = {"app_id": app_id, "start": start, "end": end, "high": high}
    minutes, hourly, versions, violations = _tally(_APP_RANGE, params)
    for model, column in (
        (EventMinuteStat, EventMinuteStat.minute),
        (EventStat, EventStat.hour),
        (EventVersionStat, EventVersionStat.hour),
        (ViolationStat, ViolationStat.hour),
    ):
        db.session.execute(
            delete(model).where(model.app_id == app_id, column >= start, column < end)
        )
    _add(EventMinuteStat, minutes)
    _add(EventStat, hourly)
    _add(EventVersionStat, versions)
    _add(ViolationStat, violations)
    db.session.commit()
    return sum(minutes.values())


def violation_totals(app_id: int, *conditions: Any) -> Counter:
    """(event, rule, path) → how many violations the app's hourly counts that meet
    `conditions` hold (a day for digests, an app version for regression reports)."""
    rows = db.session.execute(
        select(
            ViolationStat.event_name,
            ViolationStat.rule,
            ViolationStat.path,
            func.sum(ViolationStat.count),
        )
        .where(ViolationStat.app_id == app_id, *conditions)
        .group_by(ViolationStat.event_name, ViolationStat.rule, ViolationStat.path)
    )
    return Counter({(name, rule, path): int(n) for name, rule, path, n in rows})
