"""Stored events with their verdicts.

On PostgreSQL `events` is partitioned by day of `received_at` (migration 0015,
app/services/storage/partitions.py): its primary key is (id, received_at) and its unique key
(task_id, received_at), since a partitioned table's unique keys must hold the partition key. The
model names `id` alone as the key (ids come from one sequence, so they are unique anyway).
docs/perf/indexes.md says why each index is there.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import BigId, JsonDocument, UtcDateTime, utcnow


def _present(column: str) -> dict[str, object]:
    """A partial index's condition: rows without the value are not indexed (a filter by a
    value can never match them, and most events carry no test run)."""
    condition = text(f"{column} IS NOT NULL")
    return {"postgresql_where": condition, "sqlite_where": condition}


class Event(db.Model):
    """One accepted event. (task_id, received_at) is unique: a redelivered message carries the
    received_at fixed at admission, so it cannot add a row."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("task_id", "received_at", name="uq_events_task_id_received_at"),
        # The dashboard's queries: newest first per app, optionally by one filter.
        Index("ix_events_app_id_id", "app_id", "id"),
        Index("ix_events_app_status_id", "app_id", "status", "id"),
        Index("ix_events_app_name_id", "app_id", "event_name", "id"),
        # The test-run pages count a run's events by status: covered, read from the index.
        Index(
            "ix_events_app_test_run_id",
            "app_id",
            "test_run",
            "id",
            postgresql_include=["status"],
            **_present("test_run"),
        ),
        Index("ix_events_app_version_id", "app_id", "app_version", "id", **_present("app_version")),
        Index("ix_events_app_device_id", "app_id", "device_id", "id", **_present("device_id")),
        Index("ix_events_app_received_at", "app_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64))
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16), default="track")
    event_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    violations: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    plan_version: Mapped[int | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    payload_hash: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))
    anonymous_id: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    client_timestamp: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Event time corrected for the client's clock skew (received_at when the client sent none).
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    app_version: Mapped[str | None] = mapped_column(String(64))
    os_name: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(255))
    library_name: Mapped[str | None] = mapped_column(String(128))
    library_version: Mapped[str | None] = mapped_column(String(64))
    test_run: Mapped[str | None] = mapped_column(String(255))
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
