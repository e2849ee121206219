"""Test-run reports: what one test run (the `testRun` of its events) sent, and whether it passed.

A run passes when none of its events is invalid or unplanned: a build whose events the plan does
not know is as broken, for a release gate, as one whose events break the plan."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import Event
from app.services.events import event_to_dict

MAX_LISTED = 500  # violating events listed in a report; the counts cover them all


def test_run_report(app_id: int, test_run: str) -> dict[str, Any] | None:
    """The run's counts by status, pass/fail and its violating events; None if it sent none."""
    counts = dict(
        db.session.execute(
            select(Event.status, func.count())
            .where(Event.app_id == app_id, Event.test_run == test_run)
            .group_by(Event.status)
        ).all()
    )
    if not counts:
        return None
    failing = db.session.scalars(
        select(Event)
        .where(Event.app_id == app_id, Event.test_run == test_run)
        .where(Event.status.in_(("invalid", "unplanned")))
        .order_by(Event.id)
        .limit(MAX_LISTED)
    )
    by_status = {status: counts.get(status, 0) for status in ("valid", "invalid", "unplanned")}
    return {
        "test_run": test_run,
        "app_id": app_id,
        "passed": by_status["invalid"] == 0 and by_status["unplanned"] == 0,
        "total": sum(counts.values()),
        "counts": by_status,
        "failures": [event_to_dict(event) for event in failing],
    }
