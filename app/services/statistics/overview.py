"""An app's overview, read from the aggregates (never from the raw events): volume and invalid
share per minute, hour or day, per-event health, the top violations, plan publish times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import EventMinuteStat, EventStat, StatWatermark, TrackingPlan, ViolationStat
from app.models.types import utcnow
from app.services.statistics import pii_counts
from app.services.statistics.aggregates import WATERMARK, as_time
from app.validation.verdict import STATUSES

# Bar widths in minutes. Minute bars come from event_minute_stats, kept MINUTE_STATS_DAYS
# (app/services/storage/retention.py); hour and day bars from the hourly event_stats, kept for good.
RESOLUTIONS = {"minute": 1, "hour": 60, "day": 24 * 60}
# The time ranges (hours) and their resolutions, the default first. Minute bars up to 6 hours
# (360 bars; a day of them would be 1,440 shapes), day bars for 30 days (2,000 hourly shapes
# measured at 60 ms of drawing with `make pages`).
WINDOWS = {"1h": 1, "3h": 3, "6h": 6, "24h": 24, "7d": 7 * 24, "30d": 30 * 24}
WINDOW_RESOLUTIONS = {
    "1h": ("minute", "hour"),
    "3h": ("minute", "hour"),
    "6h": ("minute", "hour"),
    "24h": ("hour",),
    "7d": ("hour",),
    "30d": ("day",),
}


@dataclass(frozen=True)
class Bucket:
    """The counts of one bar: `minutes` long from `start`."""

    start: datetime
    minutes: int
    valid: int = 0
    invalid: int = 0
    unplanned: int = 0

    @property
    def total(self) -> int:
        return self.valid + self.invalid + self.unplanned

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    @property
    def failing_share(self) -> float | None:
        """The share of invalid and unplanned events, None for a bar without events."""
        return (self.invalid + self.unplanned) / self.total if self.total else None


def _window(hours: int, now: datetime | None) -> tuple[datetime, list[datetime]]:
    last = (now or utcnow()).replace(minute=0, second=0, microsecond=0)
    hours_list = [last - timedelta(hours=n) for n in range(hours - 1, -1, -1)]
    return hours_list[0], hours_list


def _units(
    hours: int, resolution: str, now: datetime | None
) -> tuple[type, Any, timedelta, list[datetime]]:
    """The statistics table, its time column, its rows' length and the starts of its rows in
    the window: the last `hours` hours, the current hour (minute) included."""
    if resolution == "minute":
        last = (now or utcnow()).replace(second=0, microsecond=0)
        units = [last - timedelta(minutes=n) for n in range(hours * 60 - 1, -1, -1)]
        return EventMinuteStat, EventMinuteStat.minute, timedelta(minutes=1), units
    return EventStat, EventStat.hour, timedelta(hours=1), _window(hours, now)[1]


def window_counts(
    app_id: int, hours: int, resolution: str = "hour", now: datetime | None = None
) -> tuple[list[Bucket], list[dict[str, Any]]]:
    """The chart's bars and the per-event health of the last `hours` hours.

    Bars: counts by status for each minute, hour or day (`resolution`), the current one
    included, oldest first, zeros where nothing happened. Health: per event name, counts by
    status and the failing share, the worst first. Two grouped reads, so the database returns a
    few hundred rows (one read grouped by hour and event returned ~10,000 at 1M events: 3x
    slower, `make pages`).
    """
    model, column, unit, units = _units(hours, resolution, now)
    step = max(1, int(timedelta(minutes=RESOLUTIONS[resolution]) / unit))
    start, starts = units[0], units[::step]
    by_bucket = {at: dict.fromkeys(STATUSES, 0) for at in starts}
    in_window = (model.app_id == app_id, column >= start)
    for at, status, count in db.session.execute(
        select(column, model.status, func.sum(model.count))
        .where(*in_window)
        .group_by(column, model.status)
    ):
        index = int((as_time(at) - start) / unit) // step
        if status in STATUSES and 0 <= index < len(starts):
            by_bucket[starts[index]][status] += int(count)
    by_event: dict[str, dict[str, int]] = {}
    for name, status, count in db.session.execute(
        select(model.event_name, model.status, func.sum(model.count))
        .where(*in_window)
        .group_by(model.event_name, model.status)
    ):
        if status in STATUSES:
            by_event.setdefault(name, dict.fromkeys(STATUSES, 0))[status] += int(count)
    health = []
    for name, counts in by_event.items():
        total = sum(counts.values())
        failing = counts["invalid"] + counts["unplanned"]
        health.append({"event_name": name, **counts, "total": total, "share": failing / total})
    health.sort(key=lambda e: (-e["share"], -e["total"], e["event_name"]))
    minutes = RESOLUTIONS[resolution]
    return [Bucket(at, minutes, **counts) for at, counts in by_bucket.items()], health


def plan_publishes(app_id: int, since: datetime) -> list[tuple[int, datetime]]:
    """(version, published_at) of the app's plan versions published since `since`, oldest
    first: the chart marks them, as verdicts before and after one are not alike."""
    rows = db.session.execute(
        select(TrackingPlan.version, TrackingPlan.published_at)
        .where(TrackingPlan.app_id == app_id, TrackingPlan.published_at >= since)
        .order_by(TrackingPlan.published_at)
    )
    return [(version, as_time(at)) for version, at in rows]


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


def pii_findings(app_id: int, hours: int, now: datetime | None = None) -> int:
    """The `pii` findings of the window's hours (from the hourly violation counts)."""
    return pii_counts.hours_findings(app_id, _window(hours, now)[0])


def last_aggregated() -> datetime | None:
    """When the statistics last counted new events (None: never). One row: the max of a week
    of an app's statistics read ~50,000 of them at 1M events (`make pages`)."""
    return db.session.scalar(
        select(StatWatermark.updated_at).where(StatWatermark.name == WATERMARK)
    )
