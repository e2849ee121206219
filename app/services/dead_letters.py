"""Dead letters: messages a task could not process, kept with their error until replayed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
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
