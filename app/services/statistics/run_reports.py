"""Test runs: what one test run (the `testRun` of its events) sent and whether it passed, and the
list of an app's recent runs.

A run passes when none of its events is invalid or unplanned (nor blocked, which are unplanned
events never stored): a build whose events the plan does not know is as broken, for a release
gate, as one whose events break the plan. A run with expectations (run_expectations.py) passes
when every one of them is met instead. An open run's status is that of the events stored so
far, and its settlement (run_settlement.py) says whether any are still on their way; a closed
run is judged on the events received up to its closing, and later ones are listed as late.

The list reads the index (app_id, test_run, id): a loose index scan finds the distinct runs (one
probe each) and their newest event ids (one more probe each); only the page's runs are counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, text

from app.extensions import db
from app.models import Event
from app.services.ingestion.run_counts import Counts
from app.services.statistics.aggregates import as_time
from app.services.statistics.pii_counts import run_findings
from app.services.statistics.run_expectations import (
    check_run,
    find_run,
    late_events,
    of_run,
    run_met,
    runs_named,
    waiting_runs,
)
from app.services.statistics.run_settlement import settlement, stored_count
from app.services.storage.events import event_to_dict
from app.time_text import iso_z
from app.validation.verdict import FAILING, STATUSES

MAX_LISTED = 500  # violating events listed in a report; the counts cover them all
MAX_GROUPED = 20_000  # violating events read to group a report's violations
EXAMPLES = 3  # example events shown per group of identical violations

# The app's distinct test runs with the id of each one's newest event.
_RUNS = text(
    "WITH RECURSIVE r(run) AS ("
    " SELECT min(test_run) FROM events WHERE app_id = :app_id AND test_run > ''"
    " UNION ALL"
    " SELECT (SELECT min(test_run) FROM events WHERE app_id = :app_id AND test_run > r.run)"
    " FROM r WHERE r.run IS NOT NULL"
    ") SELECT run, (SELECT max(id) FROM events WHERE app_id = :app_id AND test_run = r.run)"
    " FROM r WHERE run IS NOT NULL"
)


def _summary(test_run: str, counts: dict[str, int], met: bool | None) -> dict[str, Any]:
    """Counts by status and the verdict: `met` (the expectations) when the run has them."""
    by_status = {status: counts.get(status, 0) for status in STATUSES}
    passed = by_status["invalid"] == 0 and by_status["unplanned"] == 0 if met is None else met
    return {
        "test_run": test_run,
        "passed": passed,
        "status": "PASSED" if passed else "FAILED",
        "total": sum(by_status.values()),
        "counts": by_status,
    }


def list_test_runs(
    app_id: int,
    limit: int,
    before_id: int | None = None,
    counts_of: Callable[[str], Counts | None] | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """The app's runs whose newest event is older than `before_id` (all without it), the most
    recently active first, with counts by status and first/last event times; and the id to
    continue after (None on the last page). The first page starts with the runs still waiting
    for their first event (known by their expectations), newest first. `counts_of(run)` gives
    a run's admission counts, whose blocked events fail it."""
    waiting = waiting_runs(app_id, limit) if before_id is None else []
    runs = [
        (run, last_id)
        for run, last_id in db.session.execute(_RUNS, {"app_id": app_id})
        if before_id is None or last_id < before_id
    ]
    runs.sort(key=lambda r: r[1], reverse=True)
    room = limit - len(waiting)
    page, more = runs[:room], len(runs) > room
    if not page and not waiting:
        return [], None
    names = waiting + [run for run, _ in page]
    rows = runs_named(app_id, names)
    closed = {name: row.closed_at for name, row in rows.items() if row.closed_at is not None}
    # A closed run counts the events received up to its closing.
    in_page = or_(
        Event.test_run.in_([n for n in names if n not in closed]),
        *(and_(Event.test_run == n, Event.received_at <= at) for n, at in closed.items()),
    )
    counts: dict[str, dict[str, int]] = {name: {} for name in names}
    times: dict[str, list] = {name: [] for name in names}
    for run, status, n, first, last in db.session.execute(
        select(
            Event.test_run,
            Event.status,
            func.count(),
            func.min(Event.received_at),
            func.max(Event.received_at),
        )
        .where(Event.app_id == app_id, in_page)
        .group_by(Event.test_run, Event.status)
    ):
        counts[run][status] = n
        times[run] += [as_time(first), as_time(last)]
    listed = []
    for name in names:
        row = rows.get(name)
        admitted = counts_of(name) if counts_of else None
        blocked = admitted.blocked if admitted else 0
        met = run_met(app_id, name, row, blocked)
        summary = _summary(name, counts[name], met)
        if blocked and met is None:
            summary.update(passed=False, status="FAILED")  # blocked: unplanned, never stored
        listed.append(
            {
                **summary,
                "first_at": iso_z(min(times[name])) if times[name] else None,
                "last_at": iso_z(max(times[name])) if times[name] else None,
                "closed_at": iso_z(row.closed_at if row else None),
                "expectations_met": met,
            }
        )
    if not more:
        return listed, None
    # Waiting runs filled the first page: the next one starts at the newest run with events.
    return listed, page[-1][1] if page else runs[0][1] + 1


def _groups(where: list[ColumnElement[bool]]) -> tuple[list[dict[str, Any]], bool]:
    """The run's violations, the same broken rule (event, rule, path, expected) as one group with
    a count, the first message, a few of the values that broke it and a few example events, the
    most frequent first; and whether events were left out (more than MAX_GROUPED violating
    events). Messages name the value sent, so they are not part of what makes two the same."""
    rows = db.session.execute(
        select(Event.id, Event.event_name, Event.status, Event.violations)
        .where(*where)
        .where(Event.status.in_(FAILING))
        .order_by(Event.id)
        .limit(MAX_GROUPED + 1)
    ).all()
    groups: dict[tuple, dict[str, Any]] = {}
    for event_id, name, status, violations in rows[:MAX_GROUPED]:
        for v in violations or [{}]:
            expected = json.dumps(v.get("expected"), sort_keys=True)
            key = (name, v.get("rule", ""), v.get("path", ""), expected)
            group = groups.setdefault(
                key,
                {
                    "event_name": name,
                    "status": status,
                    "rule": key[1],
                    "path": key[2],
                    "message": v.get("message", ""),
                    "values": [],
                    "count": 0,
                    "example_ids": [],
                },
            )
            group["count"] += 1
            if (
                "actual" in v
                and len(group["values"]) < EXAMPLES
                and v["actual"] not in group["values"]
            ):
                group["values"].append(v["actual"])
            if len(group["example_ids"]) < EXAMPLES and event_id not in group["example_ids"]:
                group["example_ids"].append(event_id)
    ordered = sorted(groups.values(), key=lambda g: (-g["count"], g["event_name"], g["path"]))
    examples = {
        event.id: event
        for event in db.session.scalars(
            select(Event).where(Event.id.in_([i for g in ordered for i in g["example_ids"]]))
        )
    }
    for group in ordered:
        group["examples"] = [event_to_dict(examples[i]) for i in group.pop("example_ids")]
    return ordered, len(rows) > MAX_GROUPED


def test_run_report(
    app_id: int, test_run: str, counts: Counts | None = None
) -> dict[str, Any] | None:
    """The run's counts by status, pass/fail, its expectations checked, its violations grouped,
    its violating events (the first MAX_LISTED) and its settlement given its admission `counts`;
    None if the app never heard of it (no events, no counts, no expectations, never closed)."""
    row = find_run(app_id, test_run)
    closed_at = row.closed_at if row else None
    where = of_run(app_id, test_run, closed_at)
    stored = db.session.execute(
        select(Event.status, func.count(), func.min(Event.received_at), func.max(Event.received_at))
        .where(*where)
        .group_by(Event.status)
    ).all()
    if not stored and counts is None and row is None:
        return None
    failing = db.session.scalars(
        select(Event)
        .where(*where)
        .where(Event.status.in_(FAILING))
        .order_by(Event.id)
        .limit(MAX_LISTED)
    )
    groups, partial = _groups(where)
    # Every stored row settles the run, even those received after it was closed.
    settled = settlement(app_id, test_run, counts, stored_count(app_id, test_run))
    expectations = check_run(app_id, test_run, row, blocked=settled["blocked"])
    summary = _summary(test_run, {status: n for status, n, _, _ in stored}, expectations["met"])
    if settled["blocked"] and expectations["met"] is None:
        summary.update(passed=False, status="FAILED")  # blocked: unplanned, never stored
    return {
        **summary,
        "app_id": app_id,
        "first_at": iso_z(min(as_time(first) for _, _, first, _ in stored)) if stored else None,
        "last_at": iso_z(max(as_time(last) for _, _, _, last in stored)) if stored else None,
        "closed_at": iso_z(closed_at),
        "settlement": settled,
        "expectations": expectations,
        "late": late_events(app_id, test_run, closed_at),
        "violations": groups,
        "violations_partial": partial,
        # Personal data found (warnings unless the app's PII policy made the events invalid).
        "pii": run_findings(app_id, test_run, closed_at),
        "failures": [event_to_dict(event) for event in failing],
    }
