"""What the plan editor shows above its Publish button: the lint findings of the version being
edited and, for a draft, its changes against the published version (docs/plan-checks.md)."""

from __future__ import annotations

from typing import Any

from app.validation import PlanError
from app.validation.plan_diff import BREAKING, diff_plans
from app.validation.plan_lint import lint_plan


def plan_checks(
    version: int | None, body: dict[str, Any], published_version: int | None, published: dict
) -> dict[str, Any]:
    """The template's `checks`: lint of `body` (version `version`), and its diff against the
    published body when it is a draft (a newer version than the published one)."""
    draft = version is not None and version != published_version
    checks: dict[str, Any] = {"version": version, "draft": draft, "error": None}
    checks.update(lint=None, diff=None, breaking=0, additive=0)
    try:
        # Stored versions load as stored (saving=False): the caps of a new save do not apply.
        checks["lint"] = lint_plan(body, saving=False).to_dict()
        if draft:
            changes = diff_plans(published if published_version else None, body, saving=False)
            checks["diff"] = changes.changes
            checks["breaking"] = sum(c.kind == BREAKING for c in changes.changes)
            checks["additive"] = len(changes.changes) - checks["breaking"]
    except PlanError as exc:  # a version saved before today's checks
        checks["error"] = str(exc)
    return checks
