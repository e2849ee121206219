"""Test runs known before (or beyond) their events: expectations and closing."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import JsonDocument, UtcDateTime, utcnow


class TestRun(db.Model):
    """A run named by its events' `testRun`: its expectations document (normalised; None: the
    default rule) and when it was closed (None: open)."""

    __tablename__ = "test_runs"
    __table_args__ = (UniqueConstraint("app_id", "name"),)
    __test__ = False  # not a pytest test class, whatever its name

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    expectations: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
