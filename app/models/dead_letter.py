"""Events whose storage failed for good, kept with their error."""

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import BigId, JsonDocument, UtcDateTime, utcnow


class DeadLetter(db.Model):
    """A message a task could not process, with the error, so nothing accepted disappears."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[int | None] = mapped_column(index=True)
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
