"""Storing events idempotently, and reading them back."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import JSON, Column, Integer, select
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import DeadLetter, Event
from app.models.dialect import insert, is_postgresql
from app.models.types import UtcDateTime, utcnow
from app.services.ingestion.stored_event import TIME_MAX, TIME_MIN, StoredEvent
from app.time_text import iso_z
from app.validation import pii

_TIME_FIELDS = ("received_at", "sent_at", "client_timestamp", "timestamp")
_COLUMNS = {c.name for c in Event.__table__.columns} - {"id", "stored_at"}


def _row(message: StoredEvent, stored_at: datetime) -> dict[str, Any]:
    row = {key: getattr(message, key) for key in _COLUMNS}
    for key in _TIME_FIELDS:
        if row[key] is not None:
            row[key] = datetime.fromisoformat(row[key])
    row["stored_at"] = stored_at
    return row


def store_events(messages: list[StoredEvent | dict[str, Any]]) -> int:
    """Insert event messages in one statement; a task id already stored is skipped.

    Returns how many rows were new. Safe to call again with the same messages. A dict is
    checked by StoredEvent.from_dict first (Unstorable when it could not be stored).
    """
    return sum(count for _, count in store_new(messages))


def store_new(messages: list[StoredEvent | dict[str, Any]]) -> list[tuple[datetime, int]]:
    """store_events, returning the new rows as (received_at, how many) pairs."""
    messages = [m if isinstance(m, StoredEvent) else StoredEvent.from_dict(m) for m in messages]
    if not messages:
        return []
    if is_postgresql():
        return store_batches(["[" + ",".join(m.to_json() for m in messages) + "]"])
    now = utcnow()
    statement = (
        insert(Event)
        .values([_row(m, now) for m in messages])
        .on_conflict_do_nothing(index_elements=["task_id", "received_at"])
        .returning(Event.received_at)  # only new rows come back
    )
    new_rows = Counter(db.session.scalars(statement).all())  # new rows share received_at
    db.session.commit()
    return list(new_rows.items())


def _extract(column: Column) -> str:
    """SQL that reads one column's value out of a message `m` (jsonb)."""
    if column.name == "stored_at":
        return "now()"
    if isinstance(column.type, JSON):
        return f"m->'{column.name}'"
    if isinstance(column.type, UtcDateTime):
        # Outside the range the message's constructor allows (stored_event.py), fail the
        # statement as a bad value would: the careful path then quarantines that entry.
        value = f"(m->>'{column.name}')::timestamptz"
        return (
            f"CASE WHEN {value} IS NULL OR {_TIME_RANGE} @> {value} THEN {value} "
            f"ELSE ('out of range: ' || (m->>'{column.name}'))::timestamptz END"
        )
    if isinstance(column.type, Integer):
        return f"(m->>'{column.name}')::bigint"
    return f"m->>'{column.name}'"


_TIME_RANGE = f"tstzrange('{TIME_MIN.isoformat()}', '{TIME_MAX.isoformat()}', '[)')"
_STORED = [c for c in Event.__table__.columns if c.name != "id"]
_INSERT_FROM_STAGING = (
    f"WITH new AS (INSERT INTO events ({', '.join(c.name for c in _STORED)}) "
    f"SELECT {', '.join(_extract(c) for c in _STORED)} "
    "FROM event_batches_staging, jsonb_array_elements(batch) AS m "
    # received_at is fixed at admission and travels in the message: a redelivery conflicts.
    "ON CONFLICT (task_id, received_at) DO NOTHING RETURNING received_at) "
    # One row per request mostly (its events share received_at): what the latency metric needs.
    "SELECT received_at, count(*) FROM new GROUP BY received_at"
)


def store_batches(batches: list[str]) -> list[tuple[datetime, int]]:
    """PostgreSQL: store batches of messages, each a JSON array as queued, in one statement.

    The JSON goes to PostgreSQL as it is (COPY into a staging table) and PostgreSQL takes it
    apart: Python neither parses nor rebuilds the events. (A multi-row INSERT built by
    SQLAlchemy spent ~1 ms of Python per row.) PostgreSQL checks every value as it casts it
    (jsonb refuses NUL and lone surrogates, varchar its length, the CASE above the time range),
    so a batch stores whole or fails whole. Returns the new rows as (received_at, how many).
    """
    connection = db.session.connection()
    try:
        with connection.connection.driver_connection.cursor() as cursor:
            # Every time: a rolled-back transaction takes the table's creation with it.
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS event_batches_staging (batch jsonb) "
                "ON COMMIT DELETE ROWS"
            )
            with cursor.copy("COPY event_batches_staging (batch) FROM STDIN") as copy:
                for batch in batches:
                    copy.write_row((batch,))
            cursor.execute(_INSERT_FROM_STAGING)
            new_rows = [(received_at, count) for received_at, count in cursor.fetchall()]
    except psycopg.OperationalError as exc:
        if (exc.sqlstate or "").startswith("54"):
            # Program limit exceeded (JSON nested past PostgreSQL's stack depth): this data,
            # not the database; retrying would hold back the stream for good.
            raise
        # The driver's own error, raised past SQLAlchemy: name it as SQLAlchemy would, so
        # callers retry instead of taking the data for bad.
        raise OperationalError("store_batches", None, exc) from exc
    db.session.commit()
    return new_rows


FILTERS = ("status", "event_name", "test_run", "app_version", "device_id")


def list_events(
    app_id: int,
    filters: dict[str, str],
    since: datetime | None = None,
    limit: int = 50,
    before_id: int | None = None,
    after_id: int | None = None,
) -> tuple[list[Event], int | None]:
    """Newest events of an app matching the filters; returns (page, id to continue before).
    `after_id`: only events stored after that one (what a live view has not shown yet)."""
    query = select(Event).where(Event.app_id == app_id)
    for name, value in filters.items():
        query = query.where(getattr(Event, name) == value)
    if since is not None:
        query = query.where(Event.received_at >= since)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    if after_id is not None:
        query = query.where(Event.id > after_id)
    rows = list(db.session.scalars(query.order_by(Event.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)


def event_to_dict(event: Event) -> dict[str, Any]:
    """An event as the read API shows it."""
    return {
        "id": event.id,
        "type": event.type,
        "event_name": event.event_name,
        "status": event.status,
        "errors": event.violations,
        "plan_version": event.plan_version,
        # The stored payload keeps personal data raw for re-validation; shown, it is masked.
        "payload": pii.masked_payload(event.payload, event.violations),
        "payload_hash": event.payload_hash,
        "task_id": event.task_id,
        "message_id": event.message_id,
        "user_id": pii.masked_field(event.user_id, event.violations, "userId"),
        "received_at": iso_z(event.received_at),
        "sent_at": iso_z(event.sent_at),
        "timestamp": iso_z(event.timestamp),
        "app_version": event.app_version,
        "os_name": event.os_name,
        "device_id": event.device_id,
        "library": {"name": event.library_name, "version": event.library_version},
        "test_run": event.test_run,
    }


def task_state(app_id: int, task_id: str) -> dict[str, Any] | None:
    """`stored`, `failed` or `discarded` from what is kept for a task id, None when nothing
    is kept (the caller answers `queued` or unknown)."""
    event = db.session.execute(
        select(Event.id, Event.status).where(Event.task_id == task_id, Event.app_id == app_id)
    ).first()
    if event is not None:
        return {"task_id": task_id, "state": "stored", "event_id": event.id, "status": event.status}
    dead = db.session.execute(
        select(DeadLetter.error, DeadLetter.replayed_at, DeadLetter.discarded_at).where(
            DeadLetter.task_id == task_id, DeadLetter.app_id == app_id
        )
    ).first()
    if dead is not None and dead.discarded_at is not None:
        return {"task_id": task_id, "state": "discarded", "error": dead.error}
    if dead is not None and dead.replayed_at is None:
        return {"task_id": task_id, "state": "failed", "error": dead.error}
    return None  # a replayed dead letter is queued again
