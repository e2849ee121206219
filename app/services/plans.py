"""Tracking plan versions: save, publish, read."""

from __future__ import annotations

import difflib
import json
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import App, TrackingPlan
from app.models.types import utcnow
from app.services import app_directory
from app.validation import Plan, parse_plan

EMPTY_PLAN = app_directory.EMPTY_PLAN


def parse(body: Any) -> Plan:
    """Check a plan document; raises PlanError with a human message."""
    return parse_plan(body)


def save_plan(
    app: App, body: dict[str, Any], *, publish: bool, commit: bool = True
) -> TrackingPlan:
    """Store `body` as the app's next plan version, published at once or as a draft."""
    parse(body)
    latest = db.session.scalar(
        select(func.max(TrackingPlan.version)).where(TrackingPlan.app_id == app.id)
    )
    plan = TrackingPlan(app_id=app.id, version=(latest or 0) + 1, status="draft", body=body)
    db.session.add(plan)
    if publish:
        _publish(app, plan)
    if commit:
        db.session.commit()
        if publish:
            app_directory.announce_change([app.write_key])
    return plan


def _publish(app: App, plan: TrackingPlan) -> None:
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


def publish_version(app: App, version: int) -> bool:
    """Publish a saved version (a draft, or an older one to roll back); False if none."""
    plan = db.session.scalar(
        select(TrackingPlan).where(TrackingPlan.app_id == app.id, TrackingPlan.version == version)
    )
    if plan is None:
        return False
    _publish(app, plan)
    db.session.commit()
    app_directory.announce_change([app.write_key])
    return True


def diff(old: dict[str, Any], new: dict[str, Any], old_name: str, new_name: str) -> str:
    """A unified diff of two plan bodies, as pretty JSON with sorted keys."""

    def lines(body: dict[str, Any]) -> list[str]:
        return json.dumps(body, indent=2, sort_keys=True).splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(old), lines(new), old_name, new_name))
