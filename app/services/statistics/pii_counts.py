"""How many `pii` findings (app/validation/pii.py) an app's events carried: in an alert's
window, a digest's day, the overview's hours and a test run."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import bindparam, func, select, text

from app.extensions import db
from app.models import ViolationStat
from app.models.dialect import dialect_name
from app.models.types import UtcDateTime
from app.services.statistics.aggregates import _VIOLATIONS_FROM
from app.validation.pii import RULE


def _stored(where: str, params: dict) -> tuple[int, int]:
    """(findings, events with findings) among the stored events `where` selects."""
    rule, _, source = _VIOLATIONS_FROM[dialect_name()]
    times = [bindparam(n, type_=UtcDateTime) for n in ("start", "end") if n in params]
    row = db.session.execute(
        text(
            f"SELECT count(*), count(DISTINCT e.id) FROM {source} WHERE {where} AND {rule} = :rule"
        ).bindparams(*times),
        {**params, "rule": RULE},
    ).one()
    return int(row[0]), int(row[1])


def window_findings(app_id: int, start: datetime, end: datetime) -> int:
    """Findings of the events received from `start` to `end`, both included (an alert's
    window: minutes, so read from the events themselves, which the (app, received_at) index
    finds)."""
    where = "e.app_id = :app_id AND e.received_at >= :start AND e.received_at <= :end"
    return _stored(where, {"app_id": app_id, "start": start, "end": end})[0]


def run_findings(app_id: int, test_run: str, closed_at: datetime | None) -> dict[str, int]:
    """`{"findings", "events"}`: the findings of a test run's events that count (those
    received up to its closing when closed) and how many events carried them."""
    where = "e.app_id = :app_id AND e.test_run = :run"
    params: dict = {"app_id": app_id, "run": test_run}
    if closed_at is not None:
        where += " AND e.received_at <= :end"
        params["end"] = closed_at
    findings, events = _stored(where, params)
    return {"findings": findings, "events": events}


def hours_findings(app_id: int, start: datetime, end: datetime | None = None) -> int:
    """Findings counted in the hourly statistics from `start` (to `end`): the overview's
    window and a digest's day."""
    conditions = [ViolationStat.app_id == app_id, ViolationStat.rule == RULE]
    conditions.append(ViolationStat.hour >= start)
    if end is not None:
        conditions.append(ViolationStat.hour < end)
    total = db.session.scalar(select(func.sum(ViolationStat.count)).where(*conditions))
    return int(total or 0)


def day_findings(app_id: int, day: date) -> int:
    """Findings of one UTC day, from the hourly statistics (a digest)."""
    start = datetime.combine(day, time(), UTC)
    return hours_findings(app_id, start, start + timedelta(days=1))
