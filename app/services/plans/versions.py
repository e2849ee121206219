"""Tracking plan versions: save, publish, read; one event at a time."""

from __future__ import annotations

import difflib
import json
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import TrackedApp, TrackingPlan
from app.models.types import utcnow
from app.services.ingestion import app_directory
from app.validation import Plan, PlanError, compile_plan, parse_plan

EMPTY_PLAN = app_directory.EMPTY_PLAN


def parse(body: Any) -> Plan:
    """Check a plan document; raises PlanError with a human message."""
    return parse_plan(body)


def save_plan(
    app: TrackedApp, body: dict[str, Any], *, publish: bool, commit: bool = True
) -> TrackingPlan:
    """Store `body` as the app's next plan version, published at once or as a draft."""
    parse(body)
    if _has_nul(body):
        raise PlanError("The plan contains a NUL character (\\u0000), which cannot be stored.")
    latest = db.session.scalar(
        select(func.max(TrackingPlan.version)).where(TrackingPlan.app_id == app.id)
    )
    version = (latest or 0) + 1
    # Compiled now, drafts too: this warms this process's cache before events need it, and
    # finds schemas that would recurse without end on every event.
    endless = compile_plan(body, version).endless_events()
    if endless:
        raise PlanError(
            f"The schema of {endless[0]!r} refers to itself without end ($ref to itself or to "
            "a schema around it, with nothing consumed in between)."
        )
    plan = TrackingPlan(app_id=app.id, version=version, status="draft", body=body)
    db.session.add(plan)
    if publish:
        _publish(app, plan)
    if commit:
        if publish:
            app_directory.note_change(db.session, [app.write_key])
        db.session.commit()
        if publish:
            db.session.refresh(app)  # loaded again now: callers read it after their session ends
    return plan


def _has_nul(value: Any) -> bool:
    """Whether U+0000 hides in any key or string (PostgreSQL's JSON cannot hold it)."""
    stack = [value]
    while stack:  # iterative: a deep plan cannot exhaust the recursion limit
        item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _publish(app: TrackedApp, plan: TrackingPlan) -> None:
    plan.status = "published"
    plan.published_at = utcnow()
    app.plan_version = plan.version


def published_body(app_id: int, version: int | None) -> dict[str, Any]:
    """The body of a published version (the empty plan when there is none)."""
    if version is None:
        return EMPTY_PLAN
    body = db.session.scalar(
        select(TrackingPlan.body).where(
            TrackingPlan.app_id == app_id, TrackingPlan.version == version
        )
    )
    return body if body is not None else EMPTY_PLAN


def versions(app_id: int) -> list[TrackingPlan]:
    """Every saved version of an app's plan, newest first."""
    return list(
        db.session.scalars(
            select(TrackingPlan)
            .where(TrackingPlan.app_id == app_id)
            .order_by(TrackingPlan.version.desc())
        )
    )


def version(app_id: int, number: int) -> TrackingPlan | None:
    """One saved version of an app's plan."""
    return db.session.scalar(
        select(TrackingPlan).where(TrackingPlan.app_id == app_id, TrackingPlan.version == number)
    )


def publish_version(app: TrackedApp, number: int) -> bool:
    """Publish a saved version (a draft, or an older one to roll back); False if none."""
    plan = version(app.id, number)
    if plan is None:
        return False
    compile_plan(plan.body, plan.version)  # warm this process's cache before events need it
    _publish(app, plan)
    app_directory.note_change(db.session, [app.write_key])
    db.session.commit()
    db.session.refresh(app)  # loaded again now: callers read it after their session ends
    return True


def diff(old: dict[str, Any], new: dict[str, Any], old_name: str, new_name: str) -> str:
    """A unified diff of two plan bodies, as pretty JSON with sorted keys."""

    def lines(body: dict[str, Any]) -> list[str]:
        return json.dumps(body, indent=2, sort_keys=True).splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(old), lines(new), old_name, new_name))


def working_copy(app: TrackedApp) -> tuple[int | None, dict[str, Any]]:
    """The version the editor starts from and its body: the newest version when it is a draft
    newer than the published one (work in progress), else the published version."""
    newest = db.session.scalar(
        select(TrackingPlan)
        .where(TrackingPlan.app_id == app.id)
        .order_by(TrackingPlan.version.desc())
        .limit(1)
    )
    if newest is not None and newest.version > (app.plan_version or 0):
        return newest.version, newest.body
    return app.plan_version, published_body(app.id, app.plan_version)


def save_event(
    app: TrackedApp,
    old_name: str | None,
    name: str,
    schema: dict[str, Any] | None,
    *,
    publish: bool,
) -> TrackingPlan:
    """A new version of the working copy with one event added, changed, renamed or (schema
    None) removed. PlanError when the name is taken or the result is not a valid plan."""
    _, body = working_copy(app)
    events = dict(body.get("events", {}))
    if name != old_name and name in events:
        raise PlanError(f"The plan already has an event {name!r}.")
    events.pop(old_name, None)
    if schema is not None:
        events[name] = schema
    return save_plan(app, {**body, "events": events}, publish=publish)
