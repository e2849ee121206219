"""Tasks: every accepted event is one, `stored` (a row in events) or `failed` (a pending dead
letter); listed newest first by when they were accepted, and counted with their accept-to-store
latency. (`queued` and `duplicate` leave no row to list: GET /api/tasks/<id> derives them.)

Both kinds are ordered by (received_at, kind, id), newest first. A stored task's received_at is
a column read through the (app_id, received_at) index; a failed one's is the ISO 8601 string in
its dead letter's message, which sorts the same way because every message writes it with
datetime.isoformat() in UTC (app/services/ingestion/verdicts.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, String, and_, cast, extract, func, or_, select

from app.extensions import db
from app.models import DeadLetter, Event, Job
from app.models.dialect import is_postgresql
from app.task_states import FAILED, STORED

# Ties of received_at (the events of one batch request share it): failed tasks first.
RANK = {STORED: 0, FAILED: 1}


@dataclass(frozen=True)
class Position:
    """Where a page of tasks ended: the last task's received_at, kind rank and row id."""

    received_at: datetime
    rank: int
    id: int


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _before(column: Any, bound: Any, rank: int, id_column: Any, after: Position) -> Any:
    """Rows of kind `rank` that come after `after` in (received_at, rank, id) descending."""
    if rank < after.rank:
        return column <= bound
    if rank > after.rank:
        return column < bound
    # The same as `column < bound OR (column = bound AND id < after.id)`, with a range on the
    # time alone in front, which the (app_id, received_at) index can seek to.
    return and_(column <= bound, or_(column < bound, id_column < after.id))


def list_tasks(
    app_id: int,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    after: Position | None = None,
) -> tuple[list[dict[str, Any]], Position | None]:
    """An app's stored and failed tasks accepted in [since, until), newest first: (one page,
    where the next begins or None)."""
    found: list[tuple[tuple[str, int, int], dict[str, Any]]] = []
    if state in (None, "stored"):
        found += _stored(app_id, since, until, limit, after)
    if state in (None, "failed"):
        found += _failed(app_id, since, until, limit, after)
    # Each kind gave at most limit + 1 of its newest: the newest `limit` of both are among them.
    found.sort(key=lambda pair: pair[0], reverse=True)
    page = found[:limit]
    if len(found) <= limit:
        return [task for _, task in page], None
    when, rank, row_id = page[-1][0]
    return [task for _, task in page], Position(datetime.fromisoformat(when), rank, row_id)


def _stored(
    app_id: int,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    after: Position | None,
) -> list[tuple[tuple[str, int, int], dict[str, Any]]]:
    query = select(
        Event.id,
        Event.task_id,
        Event.event_name,
        Event.status,
        Event.received_at,
        Event.stored_at,
    ).where(Event.app_id == app_id)
    if since is not None:
        query = query.where(Event.received_at >= since)
    if until is not None:
        query = query.where(Event.received_at < until)
    if after is not None:
        rank = RANK["stored"]
        query = query.where(_before(Event.received_at, after.received_at, rank, Event.id, after))
    query = query.order_by(Event.received_at.desc(), Event.id.desc()).limit(limit + 1)
    found = []
    for row in db.session.execute(query):
        received = _iso(row.received_at)
        latency = (row.stored_at - row.received_at).total_seconds() * 1000
        task = {
            "task_id": row.task_id,
            "state": "stored",
            "event_name": row.event_name,
            "event_id": row.id,
            "status": row.status,
            "received_at": received,
            "stored_at": _iso(row.stored_at),
            "latency_ms": round(latency, 3),
        }
        found.append(((received, RANK["stored"], row.id), task))
    return found


def _failed(
    app_id: int,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    after: Position | None,
) -> list[tuple[tuple[str, int, int], dict[str, Any]]]:
    received = DeadLetter.message["received_at"].as_string()
    query = select(
        DeadLetter.id,
        DeadLetter.task_id,
        DeadLetter.error,
        DeadLetter.created_at,
        DeadLetter.message["event_name"].as_string().label("event_name"),
        received.label("received_at"),
    ).where(
        DeadLetter.app_id == app_id,
        DeadLetter.replayed_at.is_(None),
        DeadLetter.discarded_at.is_(None),
        received.is_not(None),  # a message that was never an accepted event is no task
    )
    if since is not None:
        query = query.where(received >= _iso(since))
    if until is not None:
        query = query.where(received < _iso(until))
    if after is not None:
        bound = _iso(after.received_at)
        query = query.where(_before(received, bound, RANK["failed"], DeadLetter.id, after))
    query = query.order_by(received.desc(), DeadLetter.id.desc()).limit(limit + 1)
    found = []
    for row in db.session.execute(query):
        task = {
            "task_id": row.task_id,
            "state": "failed",
            "event_name": row.event_name,
            "dead_letter_id": row.id,
            "received_at": row.received_at,
            "failed_at": _iso(row.created_at),
            "error": row.error,
        }
        found.append(((row.received_at, RANK["failed"], row.id), task))
    return found


def task_stats(app_id: int, since: datetime, until: datetime) -> dict[str, Any]:
    """Tasks of an app accepted in [since, until): stored and failed counts, their rates per
    minute, and accept-to-store latency (p50, p95, max; percentiles interpolated as
    PostgreSQL's percentile_cont does). Reads the window's rows through the (app_id,
    received_at) index; the caller bounds the window."""
    window = (Event.app_id == app_id, Event.received_at >= since, Event.received_at < until)
    if is_postgresql():
        ms = cast(extract("epoch", Event.stored_at - Event.received_at), Float) * 1000
        row = db.session.execute(
            select(
                func.count(),
                func.percentile_cont(0.5).within_group(ms),
                func.percentile_cont(0.95).within_group(ms),
                func.max(ms),
            ).where(*window)
        ).one()
        stored, p50, p95, slowest = row
    else:
        # SQLite keeps times as text (UTC): parsed here with fromisoformat, which is exact to
        # the microsecond and ~10x faster than the column type's own conversion.
        as_text = select(cast(Event.received_at, String), cast(Event.stored_at, String))
        parse = datetime.fromisoformat
        latencies = sorted(
            (parse(stored_at) - parse(received_at)).total_seconds() * 1000
            for received_at, stored_at in db.session.execute(as_text.where(*window))
        )
        stored = len(latencies)
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        slowest = latencies[-1] if latencies else None
    received = DeadLetter.message["received_at"].as_string()
    failed = db.session.scalar(
        select(func.count()).where(
            DeadLetter.app_id == app_id,
            DeadLetter.replayed_at.is_(None),
            DeadLetter.discarded_at.is_(None),
            received >= _iso(since),
            received < _iso(until),
        )
    )
    minutes = (until - since).total_seconds() / 60
    return {
        "since": _iso(since),
        "until": _iso(until),
        "stored": stored,
        "failed": failed,
        "stored_per_minute": round(stored / minutes, 3),
        "failed_per_minute": round(failed / minutes, 3),
        "latency_ms": {
            "p50": _ms(p50),
            "p95": _ms(p95),
            "max": _ms(slowest),
        },
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The `fraction` percentile of sorted values, interpolated between the two nearest ranks
    (PostgreSQL's percentile_cont); None for no values."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def failed_jobs(app_ids: list[int], limit: int = 20) -> list[Job]:
    """The newest failed jobs of these apps."""
    if not app_ids:
        return []
    query = (
        select(Job)
        .where(Job.app_id.in_(app_ids), Job.state == "failed")
        .order_by(Job.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))
