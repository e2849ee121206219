"""The tracking-plan API: the published plan, its versions, new versions, publishing one."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from sqlalchemy.exc import IntegrityError

from app.api.routes import api, authenticated_app
from app.errors import ApiError
from app.extensions import db
from app.models import TrackedApp, TrackingPlan
from app.request_args import MAX_ID, int_arg
from app.services.ingestion.json_text import parse_strict_json
from app.services.plans import inference as plan_inference
from app.services.plans import versions as plans
from app.time_text import iso_z
from app.validation import PlanError, PlanTooLarge

TRUE, FALSE = ("1", "true"), ("", "0", "false")


def version_to_dict(plan: TrackingPlan, app: TrackedApp) -> dict[str, Any]:
    """A plan version as the API lists it (`current`: the one events are validated against)."""
    return {
        "version": plan.version,
        "status": plan.status,
        "current": plan.version == app.plan_version,
        "created_at": iso_z(plan.created_at),
        "published_at": iso_z(plan.published_at),
    }


def _version_or_404(app: TrackedApp, version: int) -> TrackingPlan:
    found = plans.version(app.id, version) if version <= MAX_ID else None
    if found is None:
        raise ApiError(404, "not_found", f"App {app.id} has no plan version {version}.")
    return found


def _publish_arg() -> bool:
    value = request.args.get("publish", "").lower()
    if value not in TRUE + FALSE:
        raise ApiError(400, "invalid_parameter", "publish must be 1, true, 0 or false.")
    return value in TRUE


@api.get("/apps/<int:app_id>/plan")
def plan(app_id: int):
    """The published plan (the empty plan, version null, before any is published).
    ---
    get:
      tags: [plans]
      responses:
        200: Plan
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    return {
        "app_id": app.id,
        "version": app.plan_version,
        "plan": plans.published_body(app.id, app.plan_version),
    }


@api.get("/apps/<int:app_id>/plan/versions")
def plan_versions(app_id: int):
    """Every saved version, drafts too, newest first.
    ---
    get:
      tags: [plans]
      responses:
        200: PlanVersions
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    return {"versions": [version_to_dict(row, app) for row in plans.versions(app.id)]}


@api.get("/apps/<int:app_id>/plan/versions/<int:version>")
def plan_version(app_id: int, version: int):
    """One saved version with its plan document.
    ---
    get:
      tags: [plans]
      responses:
        200: PlanVersionBody
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    found = _version_or_404(app, version)
    return {**version_to_dict(found, app), "plan": found.body}


@api.post("/apps/<int:app_id>/plan")
def save_plan(app_id: int):
    """Save the body as the next version: a draft, or published at once with `?publish=1`.
    ---
    post:
      tags: [plans]
      parameters:
        - {in: query, schema: PublishQuerySchema}
      requestBody:
        required: true
        content:
          application/json: {schema: PlanDocumentSchema}
      responses:
        201: SavedVersion
        401: Unauthorized
        404: NotFound
        409: Conflict
        413: PayloadTooLarge
    """
    app = authenticated_app(app_id)
    publish = _publish_arg()
    body = parse_strict_json(request.get_data())
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_plan", "A tracking plan is a JSON object.")
    try:
        saved = plans.save_plan(app, body, publish=publish)
    except PlanTooLarge as exc:
        raise ApiError(413, "plan_too_large", str(exc))
    except PlanError as exc:
        raise ApiError(400, "invalid_plan", str(exc))
    except IntegrityError:  # another request took this version number first
        db.session.rollback()
        raise ApiError(409, "conflict", "Another version was saved at the same time; send again.")
    location = url_for("api.plan_version", app_id=app.id, version=saved.version)
    return {"version": saved.version, "status": saved.status}, 201, {"Location": location}


@api.post("/apps/<int:app_id>/plan/versions/<int:version>/publish")
def publish_plan_version(app_id: int, version: int):
    """Validate new events against a saved version: publish a draft, or roll back.
    ---
    post:
      tags: [plans]
      responses:
        200: SavedVersion
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    if version > MAX_ID or not plans.publish_version(app, version):
        raise ApiError(404, "not_found", f"App {app.id} has no plan version {version}.")
    return {"version": version, "status": "published"}


MAX_CHOSEN = 1000  # event names one inference request may choose
MAX_NAME_LENGTH = 255  # as stored


def _sample_arg() -> int:
    return int_arg("sample", plan_inference.DEFAULT_SAMPLE, 1, plan_inference.MAX_SAMPLE)


def _chosen_events() -> list[str] | None:
    """The body's `events` (names to add), or None when there is no body."""
    raw = request.get_data()
    if not raw.strip():
        return None
    body = parse_strict_json(raw)
    if not isinstance(body, dict) or set(body) != {"events"}:
        raise ApiError(
            400, "invalid_body", 'Send no body, or {"events": [event names]} and nothing else.'
        )
    names = body["events"]
    if not isinstance(names, list) or len(names) > MAX_CHOSEN:
        raise ApiError(
            400, "invalid_events", f"events must be a list of at most {MAX_CHOSEN} event names."
        )
    if not all(isinstance(n, str) and 1 <= len(n) <= MAX_NAME_LENGTH for n in names):
        raise ApiError(
            400,
            "invalid_events",
            f"Every event name must be a string of 1 to {MAX_NAME_LENGTH} characters.",
        )
    return names


def _observed_to_dict(event: plan_inference.ObservedEvent) -> dict[str, Any]:
    return {
        "name": event.name,
        "count": event.count,
        "last_seen": iso_z(event.last_seen),
        "plausible": event.plausible,
        "samples": event.samples(),
    }


@api.get("/apps/<int:app_id>/plan/observed")
def observed_events(app_id: int):
    """The unplanned track and screen events among the newest `sample` read, with counts, the
    time last seen, whether the name looks like an event name, and a few property samples.
    ---
    get:
      tags: [plans]
      parameters:
        - {in: query, schema: InferQuerySchema}
      responses:
        200: ObservedEvents
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    limit = _sample_arg()
    observed = plan_inference.observed_unplanned(app, limit)
    return {
        "sample": limit,
        "read": observed.read,
        "events": [_observed_to_dict(event) for event in observed.events],
    }


@api.post("/apps/<int:app_id>/plan/infer")
def infer_plan_draft(app_id: int):
    """Save a draft that adds schemas inferred from recent traffic for unplanned events: those
    named in the body's `events`, or with no body every one whose name looks like an event's.
    ---
    post:
      tags: [plans]
      parameters:
        - {in: query, schema: InferQuerySchema}
      requestBody:
        required: false
        content:
          application/json: {schema: InferChoiceSchema}
      responses:
        200: InferredDraft
        201: InferredDraft
        401: Unauthorized
        404: NotFound
        409: Conflict
        413: PayloadTooLarge
    """
    app = authenticated_app(app_id)
    limit = _sample_arg()
    chosen = _chosen_events()
    try:
        inferred = plan_inference.infer_draft(app, limit, chosen)
    except plan_inference.ChoiceError as exc:
        raise ApiError(400, "invalid_events", str(exc))
    except PlanTooLarge as exc:
        raise ApiError(413, "plan_too_large", str(exc))
    except PlanError as exc:  # a chosen name no plan may hold
        raise ApiError(400, "invalid_plan", str(exc))
    except IntegrityError:  # another request took this version number first
        db.session.rollback()
        raise ApiError(409, "conflict", "Another version was saved at the same time; send again.")
    answer = {"added": inferred.added, "left_out": inferred.left_out}
    if inferred.draft is None:
        return {"version": None, "status": None, **answer}
    location = url_for("api.plan_version", app_id=app.id, version=inferred.draft.version)
    return (
        {"version": inferred.draft.version, "status": inferred.draft.status, **answer},
        201,
        {"Location": location},
    )
