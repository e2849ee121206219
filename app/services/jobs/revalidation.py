"""Re-validation jobs: what a draft plan would say about an app's stored events.

The job walks the app's events of a time range (of `received_at`) by id, from `position` up to
the newest id when it began (events stored meanwhile are not its business), judges each one
against the draft exactly as ingestion would have, and counts what would change against the
verdict stored with it: by status, and by (rule, path) the events that gain or lose a violation;
the same per event name in `by_event` (impact.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import Event, Job, TrackedApp
from app.services.ingestion.verdicts import judge
from app.services.jobs.impact import EventTally, merged_by_event
from app.services.jobs.runner import JobError, JobFailed, JobSettings, Run, create_job
from app.services.plans import versions as plans
from app.services.statistics.aggregates import general_path
from app.validation import CompiledPlan, PlanError, Verdict, canonical_json, compile_plan
from app.validation.verdict import STATUSES

# Events judged per batch (one SELECT, one progress commit). Measured on the test PostgreSQL
# (2 cores, 100,000 stored events of tests/services/jobs/helpers.py's mix, a fifth of them invalid),
# twice each: 500 → ~8,800-9,100 events/s, 2,000 → ~8,900-9,700/s, 5,000 → ~9,600-10,100/s.
# Judging (jsonschema on invalid events) is most of the time, so sizes past 500 gain little;
# 2,000 keeps a batch near 0.2 s (prompt progress and cancel, heartbeats far inside
# STALE_SECONDS) and a few MB of payloads in memory.
BATCH_SIZE = 2000
# Distinct (rule, path) rows kept in a result; the rest are counted under ("*", "*"), so random
# property names (additionalProperties) cannot grow a result without bound.
MAX_RULE_PATHS = 1000
OTHER = ("*", "*")
PARAMS = ("kind", "plan_version", "plan", "since", "until")
MAX_ID = 2**31 - 1  # the largest plan version a PostgreSQL integer holds


def _time(body: dict[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise JobError("invalid", "invalid_parameter", f"{name} must be an ISO 8601 time.")


def job_params(app: TrackedApp, body: dict[str, Any]) -> dict[str, Any]:
    """Checked parameters of a re-validation of `app` (JobError 400 when they are not)."""
    unknown = sorted(set(body) - set(PARAMS))
    if unknown:
        raise JobError("invalid", "invalid_parameter", f"Unknown field(s): {', '.join(unknown)}.")
    version, plan = body.get("plan_version"), body.get("plan")
    if (version is None) == (plan is None):
        raise JobError(
            "invalid",
            "invalid_parameter",
            "Give the plan to re-validate with: plan_version (a saved version or draft) "
            "or plan (a plan document), one of the two.",
        )
    params: dict[str, Any] = {}
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int):
            raise JobError("invalid", "invalid_parameter", "plan_version must be an integer.")
        if not 0 < version <= MAX_ID or plans.version(app.id, version) is None:
            raise JobError(
                "invalid", "invalid_plan_version", f"App {app.id} has no plan version {version}."
            )
        params["plan_version"] = version
    else:
        try:
            plans.parse(plan)
            text = canonical_json(plan)
        except (PlanError, ValueError) as exc:
            raise JobError("invalid", "invalid_plan", str(exc))
        if "\\u0000" in text:  # the database's JSON cannot hold U+0000
            raise JobError(
                "invalid", "invalid_plan", "The plan contains a NUL character (\\u0000)."
            )
        params["plan"] = plan
    since, until = _time(body, "since"), _time(body, "until")
    if since is not None and until is not None and since >= until:
        raise JobError("invalid", "invalid_parameter", "since must be before until.")
    for name, moment in (("since", since), ("until", until)):
        if moment is not None:
            params[name] = moment.isoformat()
    return params


def create(app: TrackedApp, body: dict[str, Any]) -> Job:
    """A queued re-validation job of `app` from the API's or the command line's parameters."""
    return create_job(app.id, "revalidate", job_params(app, body))


def _is_native(event_name: str, payload: dict[str, Any]) -> bool:
    """Whether a stored track event came in the native format (`eventName`) or as an SDK
    message (`event`). Only an event carrying both names, equal, is ambiguous: a message that
    says it is a Segment track is read as one."""
    if payload.get("eventName") != event_name:
        return False
    return not (payload.get("event") == event_name and payload.get("type") == "track")


def stored_verdict(
    plan: CompiledPlan,
    event_type: str,
    event_name: str,
    payload: dict[str, Any],
    pii_policy: str,
) -> Verdict:
    """The verdict ingestion would give this stored event under `plan` and the app's PII
    policy (verdicts.judge)."""
    native = event_type == "track" and _is_native(event_name, payload)
    return judge(plan, event_type, event_name, payload, native=native, pii_policy=pii_policy)


def _rule_paths(violations: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(str(v.get("rule")), general_path(str(v.get("path")))) for v in violations or ()}


def empty_result(upto: int, plan_version: int | None) -> dict[str, Any]:
    """The result of a re-validation before its first batch."""
    return {
        "plan_version": plan_version,
        "upto_event_id": upto,
        "before": dict.fromkeys(STATUSES, 0),
        "after": dict.fromkeys(STATUSES, 0),
        "newly_invalid": 0,
        "newly_valid": 0,
        "newly_unplanned": 0,
        "unchanged": 0,
        "would_block": 0,
        "violations": [],
        "by_event": [],
    }


def _merged(
    result: dict[str, Any], batch: dict[str, Any], rules: Counter, by_event: EventTally
) -> dict[str, Any]:
    """`result` plus one batch's counts (a new dict: the saved one stays as it was)."""
    merged = {**result}
    # A job begun before results had `by_event` goes on without it rather than claim a part.
    if "by_event" in result:
        merged["by_event"] = merged_by_event(result["by_event"], by_event)
    for side in ("before", "after"):
        merged[side] = dict(Counter(result[side]) + batch[side])
        for status in STATUSES:
            merged[side].setdefault(status, 0)
    for key in ("newly_invalid", "newly_valid", "newly_unplanned", "unchanged", "would_block"):
        merged[key] = result[key] + batch[key]
    table = {
        (row["rule"], row["path"]): [row["gained"], row["lost"]] for row in result["violations"]
    }
    for (key, side), count in rules.items():
        if key not in table and len(table) >= MAX_RULE_PATHS:
            key = OTHER
        table.setdefault(key, [0, 0])[side] += count
    merged["violations"] = [
        {"rule": rule, "path": path, "gained": gained, "lost": lost}
        for (rule, path), (gained, lost) in sorted(
            table.items(), key=lambda item: (-(item[1][0] + item[1][1]), item[0])
        )
    ]
    return merged


class Revalidation:
    """One claimed re-validation job at work."""

    def __init__(self, run: Run, settings: JobSettings) -> None:
        self.run = run
        params = run.params
        self.plan_version = params.get("plan_version")
        if self.plan_version is not None:
            saved = plans.version(run.app_id, self.plan_version)
            if saved is None:
                raise JobFailed(f"Plan version {self.plan_version} no longer exists.")
            body = saved.body
        else:
            body = params["plan"]
        self.plan = compile_plan(body, version=self.plan_version or 0)
        self.pii_policy = db.session.scalar(
            select(TrackedApp.pii_policy).where(TrackedApp.id == run.app_id)
        )
        self.where = [Event.app_id == run.app_id]
        if params.get("since"):
            self.where.append(Event.received_at >= datetime.fromisoformat(params["since"]))
        if params.get("until"):
            self.where.append(Event.received_at < datetime.fromisoformat(params["until"]))

    def begin(self) -> None:
        """Fix the range at the newest event id now, and count it."""
        upto = db.session.scalar(select(func.max(Event.id)).where(*self.where)) or 0
        total = db.session.scalar(
            select(func.count()).select_from(Event).where(*self.where, Event.id <= upto)
        )
        self.run.save(0, 0, empty_result(upto, self.plan_version), total=total)

    def step(self) -> bool:
        """Judge the next batch of events and save the counts with the cursor."""
        run = self.run
        upto = run.result["upto_event_id"]
        if run.position >= upto:
            return False
        rows = db.session.execute(
            select(
                Event.id,
                Event.type,
                Event.event_name,
                Event.status,
                Event.violations,
                Event.payload,
            )
            .where(*self.where, Event.id > run.position, Event.id <= upto)
            .order_by(Event.id)
            .limit(BATCH_SIZE)
        ).all()
        if not rows:
            return False
        batch: dict[str, Any] = {"before": Counter(), "after": Counter()}
        batch.update(dict.fromkeys(("newly_invalid", "newly_valid", "newly_unplanned"), 0))
        batch.update(unchanged=0, would_block=0)
        rules: Counter = Counter()  # ((rule, path), 0 gained | 1 lost) → events
        by_event = EventTally()
        for row in rows:
            verdict = stored_verdict(
                self.plan, row.type, row.event_name, row.payload, self.pii_policy
            )
            batch["before"][row.status] += 1
            batch["after"][verdict.status] += 1
            if verdict.status == row.status:
                batch["unchanged"] += 1
            else:
                batch[f"newly_{verdict.status}"] += 1
            batch["would_block"] += verdict.blocked
            old, new = _rule_paths(row.violations), _rule_paths(verdict.violations)
            for key in new - old:
                rules[key, 0] += 1
            for key in old - new:
                rules[key, 1] += 1
            by_event.add(row.id, row.event_name, row.status, verdict, new - old, old - new)
        merged = _merged(run.result, batch, rules, by_event)
        run.save(rows[-1].id, run.done + len(rows), merged)
        return True
