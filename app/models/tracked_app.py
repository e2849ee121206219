"""An app that sends events: its name and keys."""

from datetime import date, datetime

from sqlalchemy import Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UtcDateTime, utcnow


class TrackedApp(db.Model):
    """An app: the public write key ingests, the secret read key (stored hashed) queries."""

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    write_key: Mapped[str] = mapped_column(String(64), unique=True)
    read_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The published plan version events are validated against (None: no plan yet).
    plan_version: Mapped[int | None]
    # The account that created it in the dashboard (None: created with the admin command).
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Violation alerts: mail the owner when more than `alert_threshold` (a share, 0-1) of the
    # events of the last `alert_window_minutes` are invalid, with at least `alert_min_events`
    # events in the window; then nothing more for `alert_cooldown_minutes`. None: no alerts.
    alert_threshold: Mapped[float | None] = mapped_column(Float, default=0.2)
    alert_window_minutes: Mapped[int] = mapped_column(default=10)
    alert_min_events: Mapped[int] = mapped_column(default=20)
    alert_cooldown_minutes: Mapped[int] = mapped_column(default=60)
    last_alert_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The day whose digest was last sent (so a rerun of the daily task sends nothing twice).
    last_digest_on: Mapped[date | None]
    # Events received longer ago than this many days are deleted (None: the instance default).
    retention_days: Mapped[int | None]
    # Personal data in property values (app/validation/pii.py): warn, fail or off.
    pii_policy: Mapped[str] = mapped_column(String(8), default="warn", server_default="warn")
