"""An app's overview, read from the hourly aggregates (never from the raw events): volume and
invalid share per hour, per-event health, the top violations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import EventStat, ViolationStat
from app.models.types import utcnow

STATUSES = ("valid", "invalid", "unplanned")


@dataclass(frozen=True)
class HourCounts:
    hour: datetime
    valid: int = 0
    invalid: int = 0
    unplanned: int = 0

    @property
    def total(self) -> int:
        return self.valid + self.invalid + self.unplanned

    @property
    def failing_share(self) -> float | None:
        """The share of invalid and unplanned events, None for an hour without events."""
        return (self.invalid + self.unplanned) / self.total if self.total else None


def _window(hours: int, now: datetime | None) -> tuple[datetime, list[datetime]]:
    last = (now or utcnow()).replace(minute=0, second=0, microsecond=0)
    hours_list = [last - timedelta(hours=n) for n in range(hours - 1, -1, -1)]
    return hours_list[0], hours_list


def volume(app_id: int, hours: int, step: int = 1, now: datetime | None = None) -> list[HourCounts]:
    """Counts by status for each `step` hours of the last `hours` hours (the current one
    included), oldest first; buckets without events are zeros."""
    start, hours_list = _window(hours, now)
    buckets = hours_list[::step]
    counts: dict[datetime, dict[str, int]] = {hour: dict.fromkeys(STATUSES, 0) for hour in buckets}
    rows = db.session.execute(
        select(EventStat.hour, EventStat.status, func.sum(EventStat.count))
        .where(EventStat.app_id == app_id, EventStat.hour >= start)
        .group_by(EventStat.hour, EventStat.status)
    )
    for hour, status, count in rows:
        index = int((hour - start).total_seconds() // 3600) // step
        if 0 <= index < len(buckets) and status in STATUSES:
            counts[buckets[index]][status] += int(count)
    return [HourCounts(hour, **by_status) for hour, by_status in counts.items()]


def event_health(app_id: int, hours: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per event name: counts by status and the failing share, the worst first."""
    start, _ = _window(hours, now)
    rows = db.session.execute(
        select(EventStat.event_name, EventStat.status, func.sum(EventStat.count))
        .where(EventStat.app_id == app_id, EventStat.hour >= start)
        .group_by(EventStat.event_name, EventStat.status)
    )
    events: dict[str, dict[str, int]] = {}
    for name, status, count in rows:
        events.setdefault(name, dict.fromkeys(STATUSES, 0))[status] = int(count)
    health = []
    for name, counts in events.items():
        total = sum(counts.values())
        failing = counts["invalid"] + counts["unplanned"]
        health.append({"event_name": name, **counts, "total": total, "share": failing / total})
    return sorted(health, key=lambda e: (-e["share"], -e["total"], e["event_name"]))


def top_violations(
    app_id: int, hours: int, limit: int = 10, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The most frequent (event, rule, path) violations of the window."""
    start, _ = _window(hours, now)
    total = func.sum(ViolationStat.count).label("total")
    rows = db.session.execute(
        select(ViolationStat.event_name, ViolationStat.rule, ViolationStat.path, total)
        .where(ViolationStat.app_id == app_id, ViolationStat.hour >= start)
        .group_by(ViolationStat.event_name, ViolationStat.rule, ViolationStat.path)
        .order_by(total.desc(), ViolationStat.event_name, ViolationStat.rule, ViolationStat.path)
        .limit(limit)
    )
    return [
        {"event_name": name, "rule": rule, "path": path, "count": int(count)}
        for name, rule, path, count in rows
    ]


def last_aggregated(app_id: int) -> datetime | None:
    """When the app's statistics were last recounted (None: never)."""
    return db.session.scalar(
        select(func.max(EventStat.updated_at)).where(EventStat.app_id == app_id)
    )
