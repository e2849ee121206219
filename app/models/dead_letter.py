"""Events whose storage failed for good, kept with their error."""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import BigId, JsonDocument, UtcDateTime, utcnow


class DeadLetter(db.Model):
    """A message a task could not process, with the error, so nothing accepted disappears."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_app_test_run", "app_id", "test_run"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[int | None] = mapped_column(index=True)
    # The test run of the event it holds (None for none, or a message that names no readable
    # run), so a run's settlement counts its dead-lettered events.
    test_run: Mapped[str | None] = mapped_column(String(255))
    task_name: Mapped[str] = mapped_column(String(128))
    message: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Set when queued again; cleared if it fails again.
    replayed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # How many times it failed: the first time, and again after each replay.
    attempts: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    # Set when given up on: kept, so its task still reads `discarded`, never `queued`.
    discarded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
