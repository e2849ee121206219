"""Which app a read key reaches, and checks of a plan document before it is saved: lint
findings and the changes against a saved version, each breaking or additive
(docs/plan-checks.md)."""

from __future__ import annotations

from typing import Any

from flask import request

from app.api.routes import api, authenticated_app
from app.errors import ApiError
from app.request_args import MAX_ID, int_arg
from app.services.ingestion.json_text import parse_strict_json
from app.services.plans import versions as plans
from app.validation import PlanError, PlanTooLarge
from app.validation.plan_diff import diff_plans
from app.validation.plan_lint import CONVENTIONS, lint_plan


@api.get("/app")
def who_am_i():
    """The app the credentials reach: its id (for the /apps/{app_id}/… paths), its name and
    its published plan version. With a session and no `?app_id=`, the user's only app.
    ---
    get:
      tags: [plans]
      parameters:
        - {in: query, schema: AppQuerySchema}
      responses:
        200: AppIdentity
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app()
    return {"id": app.id, "name": app.name, "plan_version": app.plan_version}


@api.post("/apps/<int:app_id>/plan/lint")
def lint_plan_document(app_id: int):
    """Lint a plan document (nothing is saved): naming conventions, missing descriptions and
    types, names equal but for case, enums, bounds. `?event_names=` and `?property_names=`
    override the document's `lint` settings.
    ---
    post:
      tags: [plans]
      parameters:
        - {in: query, schema: LintQuerySchema}
      requestBody:
        required: true
        content:
          application/json: {schema: PlanDocumentSchema}
      responses:
        200: LintReport
        401: Unauthorized
        404: NotFound
        413: PayloadTooLarge
    """
    authenticated_app(app_id)
    conventions = {name: _convention_arg(name) for name in ("event_names", "property_names")}
    body = plan_body()
    try:
        report = lint_plan(body, **conventions)
    except PlanTooLarge as exc:
        raise ApiError(413, "plan_too_large", str(exc))
    except PlanError as exc:
        raise ApiError(400, "invalid_plan", str(exc))
    return report.to_dict()


@api.post("/apps/<int:app_id>/plan/diff")
def diff_plan_document(app_id: int):
    """The changes from a saved version (`?against=`, by default the published one) to the
    plan document sent, each breaking or additive (nothing is saved).
    ---
    post:
      tags: [plans]
      parameters:
        - {in: query, schema: DiffQuerySchema}
      requestBody:
        required: true
        content:
          application/json: {schema: PlanDocumentSchema}
      responses:
        200: PlanDiff
        401: Unauthorized
        404: NotFound
        413: PayloadTooLarge
    """
    app = authenticated_app(app_id)
    against = int_arg("against", 0, 1, MAX_ID) or app.plan_version
    before: dict[str, Any] | None = None
    if against is not None:
        found = plans.version(app.id, against)
        if found is None:
            raise ApiError(404, "not_found", f"App {app.id} has no plan version {against}.")
        before = found.body
    body = plan_body()
    try:
        report = diff_plans(before, body)
    except PlanTooLarge as exc:
        raise ApiError(413, "plan_too_large", str(exc))
    except PlanError as exc:
        raise ApiError(400, "invalid_plan", str(exc))
    return report.to_dict(against)


def plan_body() -> dict[str, Any]:
    """The request's body as a plan document to check (400 when it is no JSON object)."""
    body = parse_strict_json(request.get_data())
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_plan", "A tracking plan is a JSON object.")
    return body


def _convention_arg(name: str) -> str | None:
    value = request.args.get(name)
    if value is not None and value not in CONVENTIONS:
        raise ApiError(400, "invalid_parameter", f"{name} must be one of {', '.join(CONVENTIONS)}.")
    return value
