"""Aggregated counts for the dashboard: events by status, violations by rule and path."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UtcDateTime, utcnow


class EventStat(db.Model):
    """How many events of one name had one status in one hour of one app."""

    __tablename__ = "event_stats"
    __table_args__ = (UniqueConstraint("app_id", "hour", "event_name", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UtcDateTime)
    event_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    count: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ViolationStat(db.Model):
    """How often one rule failed at one path (array indices as `*`) for one event in one hour."""

    __tablename__ = "violation_stats"
    __table_args__ = (UniqueConstraint("app_id", "hour", "event_name", "rule", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UtcDateTime)
    event_name: Mapped[str] = mapped_column(String(255))
    rule: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512))
    count: Mapped[int]
