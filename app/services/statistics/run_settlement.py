"""Whether a test run has settled: every event it had accepted for storage is stored or
dead-lettered (docs/test-run-wait.md).

accepted and blocked are counted at admission (ingestion/run_counts.py); stored are the run's
rows; dead_lettered its dead letters not queued again (a replayed one counts once stored, or
again when it fails again) and whose event was not stored after all.
pending = max(0, accepted - stored - dead_lettered); settled when nothing is pending.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, select

from app.extensions import db
from app.models import DeadLetter, Event
from app.services.ingestion.run_counts import Counts


def stored_count(app_id: int, test_run: str) -> int:
    """How many events of the run are stored (the index on app_id, test_run)."""
    return db.session.scalar(
        select(func.count())
        .select_from(Event)
        .where(Event.app_id == app_id, Event.test_run == test_run)
    )


def settlement(app_id: int, test_run: str, counts: Counts | None, stored: int) -> dict[str, Any]:
    """The run's settlement from its admission counts (None: nothing counted) and its number
    of stored rows."""
    dead = db.session.scalar(
        select(func.count())
        .select_from(DeadLetter)
        .where(
            DeadLetter.app_id == app_id,
            DeadLetter.test_run == test_run,
            DeadLetter.replayed_at.is_(None),
            # Stored anyway (a redelivery that then succeeded): counted as stored only.
            ~exists().where(Event.task_id == DeadLetter.task_id),
        )
    )
    accepted, blocked = counts or Counts(0, 0)
    pending = max(0, accepted - stored - dead)
    return {
        "accepted": accepted,
        "stored": stored,
        "dead_lettered": dead,
        "blocked": blocked,
        "pending": pending,
        "settled": pending == 0,
    }
