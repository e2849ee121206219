"""A test run's expectations and closing: store them, and check the run's stored events.

Closing freezes the verdict: a closed run is judged on the events received up to `closed_at`.
Events received later are still stored (their 202 was a promise) but only listed as late; they
change neither the counts nor the verdict of the closed run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError

from app.errors import ServiceError
from app.extensions import db
from app.models import Event, TestRun
from app.models.types import utcnow
from app.schemas.native_event import native_properties
from app.services.ingestion.stored_event import text_problem
from app.services.storage.events import event_to_dict
from app.validation.expectations import (
    Budget,
    Expectations,
    ExpectationsError,
    RunEvent,
    check,
    parse_expectations,
)

MAX_CHECKED = 20_000  # events read to check properties and order; counts cover every event
MAX_NAME = 255  # as the events' test_run column
MAX_LATE = 20  # late events listed


def run_name(name: str) -> str:
    """The run name, checked (ServiceError `invalid` when no event could carry it)."""
    if len(name) > MAX_NAME:
        raise ServiceError(
            "invalid", "invalid_parameter", f"A run name is at most {MAX_NAME} characters."
        )
    if problem := text_problem(name):
        raise ServiceError("invalid", "invalid_parameter", f"The run name {problem}.")
    return name


def find_run(app_id: int, name: str) -> TestRun | None:
    """The stored row of the run (None: no expectations were set and it was never closed)."""
    return db.session.scalars(
        select(TestRun).where(TestRun.app_id == app_id, TestRun.name == name)
    ).first()


def runs_named(app_id: int, names: list[str]) -> dict[str, TestRun]:
    """The stored rows of these runs of the app, by name."""
    rows = db.session.scalars(
        select(TestRun).where(TestRun.app_id == app_id, TestRun.name.in_(names))
    )
    return {row.name: row for row in rows}


def waiting_runs(app_id: int, limit: int) -> list[str]:
    """The app's runs known by a row but without any event yet, the newest first."""
    has_events = (
        select(Event.id).where(Event.app_id == app_id, Event.test_run == TestRun.name).exists()
    )
    return list(
        db.session.scalars(
            select(TestRun.name)
            .where(TestRun.app_id == app_id, ~has_events)
            .order_by(TestRun.created_at.desc(), TestRun.id.desc())
            .limit(limit)
        )
    )


def of_run(app_id: int, name: str, closed_at: datetime | None) -> list[ColumnElement[bool]]:
    """The conditions on Event of the run's events that count: up to closing when closed."""
    where = [Event.app_id == app_id, Event.test_run == name]
    if closed_at is not None:
        where.append(Event.received_at <= closed_at)
    return where


def set_expectations(app_id: int, name: str, document: Any) -> dict[str, Any]:
    """Check and store the run's expectations (creating the run); the normalised document.

    ServiceError `invalid` (invalid_expectations) naming the field at fault; `conflict` when
    the run is closed (its verdict is final)."""
    run_name(name)
    try:
        normalised = parse_expectations(document).to_dict()
    except ExpectationsError as exc:
        raise ServiceError("invalid", "invalid_expectations", str(exc)) from None
    for attempt in (1, 2):
        row = find_run(app_id, name)
        if row is not None and row.closed_at is not None:
            raise ServiceError(
                "conflict", "run_closed", f"Test run {name!r} is closed; its verdict is final."
            )
        if row is None:
            db.session.add(TestRun(app_id=app_id, name=name, expectations=normalised))
        else:
            row.expectations = normalised
        try:
            db.session.commit()
            break
        except IntegrityError:  # another request created the run meanwhile: update it
            db.session.rollback()
            if attempt == 2:
                raise
    return {"test_run": name, "expectations": normalised}


def close_run(app_id: int, name: str) -> bool:
    """Close the run now (closing again keeps the first time); False when the app never heard
    of the run (no events, no expectations)."""
    run_name(name)
    row = find_run(app_id, name)
    if row is None:
        has_events = db.session.scalar(
            select(Event.id).where(Event.app_id == app_id, Event.test_run == name).limit(1)
        )
        if has_events is None:
            return False
        row = TestRun(app_id=app_id, name=name)
        db.session.add(row)
    if row.closed_at is None:
        row.closed_at = utcnow()
    try:
        db.session.commit()
    except IntegrityError:  # created by another request meanwhile: close that one
        db.session.rollback()
        return close_run(app_id, name)
    return True


def event_properties(event_type: str, event_name: str, payload: dict[str, Any]) -> Any:
    """What a plan judges of a stored event (as app/services/ingestion/verdicts.judge): a
    native event's fields beside the envelope, an SDK message's properties, traits or ids."""
    if (
        event_type == "track"
        and payload.get("eventName") == event_name
        and not (payload.get("event") == event_name and payload.get("type") == "track")
    ):
        return native_properties(payload)
    if event_type in ("track", "screen", "page"):
        return payload.get("properties") or {}
    if event_type in ("identify", "group"):
        return payload.get("traits") or {}
    if event_type == "alias":
        return {"userId": payload.get("userId"), "previousId": payload.get("previousId")}
    raise ValueError(f"unknown event type {event_type!r}")


def _run_events(
    where: list[ColumnElement[bool]], constrained: set[str], payloads_left: int
) -> tuple[list[RunEvent], bool]:
    """The run's first MAX_CHECKED events (properties only of constrained names, and of no more
    than `payloads_left` of them: each costs a check of the budget), and whether there are
    more."""
    rows = db.session.execute(
        select(Event.id, Event.type, Event.event_name, Event.status, Event.timestamp)
        .where(*where)
        .order_by(Event.id)
        .limit(MAX_CHECKED + 1)
    ).all()
    more = len(rows) > MAX_CHECKED
    rows = rows[:MAX_CHECKED]
    wanted = [r.id for r in rows if r.event_name in constrained][:payloads_left]
    payloads: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        payloads.update(
            (i, payload)
            for i, payload in db.session.execute(
                select(Event.id, Event.payload).where(Event.id.in_(chunk))
            )
        )
    events = [
        RunEvent(
            id=r.id,
            event_name=r.event_name,
            status=r.status,
            properties=(
                event_properties(r.type, r.event_name, payloads[r.id]) if r.id in payloads else None
            ),
            timestamp=r.timestamp,
        )
        for r in rows
    ]
    return events, more


def run_met(app_id: int, name: str, row: TestRun | None, blocked: int) -> bool | None:
    """Whether the run's expectations are met (None: it has none), for a list of runs: the
    same check as its report, so the list never says otherwise."""
    if row is None or row.expectations is None:
        return None
    return _checked(app_id, name, row, blocked, Budget())[0]["met"]


def check_run(app_id: int, name: str, row: TestRun | None, blocked: int) -> dict[str, Any]:
    """The report's `expectations` object: {"met": None, "results": []} without expectations;
    else each result with its offending events (as /events shows them). `blocked` is how many
    of the run's events were answered `blocked` (never stored)."""
    if row is None or row.expectations is None:
        return {"met": None, "results": [], "partial": False}
    checked, more = _checked(app_id, name, row, blocked, Budget())
    shown_ids = {i for result in checked["results"] for i in result["event_ids"]}
    shown = {
        event.id: event_to_dict(event)
        for event in db.session.scalars(select(Event).where(Event.id.in_(shown_ids)))
    }
    for result in checked["results"]:
        result["events"] = [shown[i] for i in result.pop("event_ids")]
    # partial: properties and order were checked on the first MAX_CHECKED events only, or
    # properties on fewer (the budget of property checks).
    unchecked = checked.pop("unchecked")
    return {**checked, "partial": more or unchecked > 0}


def _checked(
    app_id: int, name: str, row: TestRun, blocked: int, budget: Budget
) -> tuple[dict[str, Any], bool]:
    """The checker's answer (offending events by id) and whether the run had more events than
    were read."""
    expectations: Expectations = parse_expectations(row.expectations)
    where = of_run(app_id, name, row.closed_at)
    counts = {
        (event_name, status): n
        for event_name, status, n in db.session.execute(
            select(Event.event_name, Event.status, func.count())
            .where(*where)
            .group_by(Event.event_name, Event.status)
        )
    }
    constrained = {e.event for e in expectations.expect if e.properties}
    events, more = _run_events(where, constrained, budget.left)
    return check(expectations, events, counts, blocked, budget), more


def late_events(app_id: int, name: str, closed_at: datetime | None) -> dict[str, Any] | None:
    """Events of a closed run received after it was closed: how many, and the first few
    (None for an open run)."""
    if closed_at is None:
        return None
    where = [Event.app_id == app_id, Event.test_run == name, Event.received_at > closed_at]
    count = db.session.scalar(select(func.count()).select_from(Event).where(*where))
    first = db.session.scalars(select(Event).where(*where).order_by(Event.id).limit(MAX_LATE))
    return {"count": count, "events": [event_to_dict(event) for event in first]}
