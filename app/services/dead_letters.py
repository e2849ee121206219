"""Dead letters: messages a task could not process, kept with their error until replayed or
discarded.

Discarding deletes the row: the table has no column to mark a dead letter discarded (one
would be `discarded_at`, a nullable timestamp, with pending = neither replayed nor discarded).
So a discarded task's id is no longer known as failed: `GET /api/tasks/<id>` answers it as
`queued` until its id's retention ends, like a task whose message was never stored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import DeadLetter
from app.models.types import utcnow


def record_dead_letter(task_id: str, task_name: str, message: dict[str, Any], error: str) -> None:
    """Keep a message that cannot be processed, with its error (one row per task id)."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    values = {"error": error[:10_000], "created_at": utcnow(), "replayed_at": None}
    db.session.execute(
        dialect.insert(DeadLetter)
        .values(
            task_id=task_id,
            app_id=message.get("app_id"),
            task_name=task_name,
            message=message,
            **values,
        )
        # Failing again after a replay: the same row, with the new error, pending again.
        .on_conflict_do_update(index_elements=["task_id"], set_=values)
    )
    db.session.commit()


def list_dead_letters(
    app_id: int | None = None, pending_only: bool = True, limit: int = 100
) -> list[DeadLetter]:
    """Dead letters, newest first: of one app, or all; pending (not replayed) ones by default."""
    query = select(DeadLetter)
    if app_id is not None:
        query = query.where(DeadLetter.app_id == app_id)
    if pending_only:
        query = query.where(DeadLetter.replayed_at.is_(None))
    return list(db.session.scalars(query.order_by(DeadLetter.id.desc()).limit(limit)))


def mark_replayed(ids: list[int]) -> None:
    """Note that these dead letters were queued again."""
    if ids:
        db.session.execute(
            update(DeadLetter).where(DeadLetter.id.in_(ids)).values(replayed_at=utcnow())
        )
        db.session.commit()


def dead_letter_to_dict(dead: DeadLetter) -> dict[str, Any]:
    """A dead letter as the API and the command line show it."""
    return {
        "id": dead.id,
        "task_id": dead.task_id,
        "task_name": dead.task_name,
        "app_id": dead.app_id,
        "error": dead.error,
        "message": dead.message,
        "created_at": dead.created_at.isoformat(),
        "replayed_at": dead.replayed_at.isoformat() if dead.replayed_at else None,
    }


def get_dead_letter(app_id: int, dead_letter_id: int) -> DeadLetter | None:
    """One dead letter of an app, pending or replayed (None for another app's)."""
    return db.session.scalar(
        select(DeadLetter).where(DeadLetter.id == dead_letter_id, DeadLetter.app_id == app_id)
    )


def discard_dead_letter(dead: DeadLetter) -> None:
    """Give up on a dead letter for good: its row is deleted (see the module docstring)."""
    db.session.execute(delete(DeadLetter).where(DeadLetter.id == dead.id))
    db.session.commit()


def pending_of_apps(app_ids: list[int], limit: int = 20) -> list[DeadLetter]:
    """The newest pending dead letters of these apps."""
    if not app_ids:
        return []
    query = (
        select(DeadLetter)
        .where(DeadLetter.app_id.in_(app_ids), DeadLetter.replayed_at.is_(None))
        .order_by(DeadLetter.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def pending_counts(app_ids: list[int]) -> dict[int, int]:
    """How many dead letters of each of these apps wait for a replay or a discard."""
    if not app_ids:
        return {}
    query = (
        select(DeadLetter.app_id, func.count())
        .where(DeadLetter.app_id.in_(app_ids), DeadLetter.replayed_at.is_(None))
        .group_by(DeadLetter.app_id)
    )
    counts = dict.fromkeys(app_ids, 0)
    counts.update({app_id: count for app_id, count in db.session.execute(query)})
    return counts


def dead_letter_detail(dead: DeadLetter) -> dict[str, Any]:
    """Everything kept of a dead letter: the list's fields, what the message says of its event
    (name, when it was accepted), and whether it waits (`pending`) or was queued again."""
    message = dead.message if isinstance(dead.message, dict) else {}
    return {
        **dead_letter_to_dict(dead),
        "state": "pending" if dead.replayed_at is None else "replayed",
        "event_name": message.get("event_name"),
        "received_at": message.get("received_at"),
    }
