"""Aggregated counts for the dashboard, alerts and regression reports
(app/services/statistics/aggregates.py)."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UtcDateTime, utcnow


class EventStat(db.Model):
    """How many events of one name had one status in one hour of one app (the overview's and
    the digests' source: kept small, with no app-version dimension)."""

    __tablename__ = "event_stats"
    __table_args__ = (UniqueConstraint("app_id", "hour", "event_name", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UtcDateTime)
    event_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    count: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EventVersionStat(db.Model):
    """The same counts per app version and plan version, for release regression reports (which
    compare releases judged by the same plan). `app_version` is "" and `plan_version` 0 for
    events without one (a unique key treats NULLs as all different)."""

    __tablename__ = "event_version_stats"
    __table_args__ = (
        UniqueConstraint("app_id", "hour", "event_name", "status", "app_version", "plan_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UtcDateTime)
    event_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    app_version: Mapped[str] = mapped_column(String(64))
    plan_version: Mapped[int] = mapped_column(default=0)
    count: Mapped[int]


class EventMinuteStat(db.Model):
    """How many events of one name had one status in one minute of one app (kept for days)."""

    __tablename__ = "event_minute_stats"
    __table_args__ = (UniqueConstraint("app_id", "minute", "event_name", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    minute: Mapped[datetime] = mapped_column(UtcDateTime)
    event_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    count: Mapped[int]


class ViolationStat(db.Model):
    """How often one rule failed at one path (array indices as `*`) for one event name, app
    version and plan version in one hour."""

    __tablename__ = "violation_stats"
    __table_args__ = (
        UniqueConstraint(
            "app_id", "hour", "event_name", "rule", "path", "app_version", "plan_version"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UtcDateTime)
    event_name: Mapped[str] = mapped_column(String(255))
    rule: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512))
    app_version: Mapped[str] = mapped_column(String(64), default="")
    plan_version: Mapped[int] = mapped_column(default=0)
    count: Mapped[int]


class StatWatermark(db.Model):
    """How far the incremental aggregation has counted: every event with id <= counted_to.

    `seen_max` is the largest event id at the previous run; the next run counts up to it, not
    further, so a storing transaction that took a lower id but had not committed yet is not
    skipped for good (it has had a whole run interval to commit)."""

    __tablename__ = "stat_watermarks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    counted_to: Mapped[int] = mapped_column(BigInteger, default=0)
    seen_max: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
