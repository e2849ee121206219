"""The tracking-plan editor: events and their properties as forms, the plan as raw JSON, drafts
and publishing, versions with a diff against the published one, and a draft inferred from
recent traffic. Every save is a new version; nothing is edited in place."""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired

from app.dashboard.apps import owned_or_404
from app.dashboard.forms import EmptyForm, EventForm
from app.dashboard.plan_checks import plan_checks
from app.errors import ServiceError
from app.request_args import MAX_ID
from app.services.plans import code as plan_code
from app.services.plans import inference as plan_inference
from app.services.plans import versions as plans
from app.validation import PlanError
from app.validation.event_names import shown_name
from app.validation.plan import MAX_PLAN_DEPTH
from app.validation.property_rows import (
    NotFormEditable,
    PropertyRow,
    rows_to_schema,
    schema_to_rows,
)

web_plans = Blueprint("plans", __name__, url_prefix="/apps")
BLANK_ROWS = 3  # empty rows under an event's properties, to add new ones
MAX_DIGITS = 12  # of a version in a URL: more names no version (and int() of thousands is slow)
# The plan page's code languages, as its select names them (app/codegen generates them).
CODE_LANGUAGES = {
    "typescript": "TypeScript (analytics-next, analytics-node)",
    "python": "Python (analytics-python)",
    "kotlin": "Kotlin (analytics-kotlin)",
    "swift": "Swift (analytics-swift; syntax-checked only)",
}


class PlanForm(FlaskForm):
    body = TextAreaField("Plan (JSON)", validators=[DataRequired()])


@web_plans.route("/<int:app_id>/plan", methods=["GET", "POST"])
@login_required
def edit(app_id: int):
    app = owned_or_404(app_id)
    form = PlanForm()
    if form.validate_on_submit():
        publish = request.form.get("action") == "publish"
        try:
            body = json.loads(form.body.data)
            if not isinstance(body, dict):
                raise PlanError("A plan is a JSON object.")
            plan = plans.save_plan(app, body, publish=publish)
        except json.JSONDecodeError as exc:
            flash(f"Not valid JSON: {exc}", "error")
        except RecursionError:  # the parser's own limit, far deeper than plans may nest
            flash(f"The plan nests deeper than {MAX_PLAN_DEPTH} levels.", "error")
        except PlanError as exc:
            flash(str(exc), "error")
        else:
            state = "published" if publish else "saved as a draft"
            flash(f"Version {plan.version} {state}.", "info")
            return redirect(url_for("plans.edit", app_id=app.id))
    working_version, working = plans.working_copy(app)
    if request.method == "GET":
        form.body.data = json.dumps(working, indent=2, sort_keys=True)
    published = plans.published_body(app.id, app.plan_version)
    history = [
        (version, plans.diff(published, version.body, "published", f"v{version.version}"))
        for version in plans.versions(app.id)
    ]
    return render_template(
        "apps/plan.html",
        app=app,
        form=form,
        history=history,
        working_version=working_version,
        events=working.get("events", {}),
        publish_form=EmptyForm(),
        checks=plan_checks(working_version, working, app.plan_version, published),
        code_languages=CODE_LANGUAGES,
    )


@web_plans.get("/<int:app_id>/plan/code.zip")
@login_required
def code_zip(app_id: int):
    """Typed tracking code of the published plan (or `?version=`) in `?language=`, as a zip
    (docs/codegen.md)."""
    app = owned_or_404(app_id)
    version_text = request.args.get("version", "")
    if version_text and not (
        version_text.isascii() and version_text.isdigit() and len(version_text) <= MAX_DIGITS
    ):
        abort(400, description="version must be a whole number.")
    version = int(version_text) if version_text else None
    if version is not None and not 0 < version <= MAX_ID:
        abort(404, description=f"App {app.id} has no plan version {version}.")
    try:
        code = plan_code.saved_plan_code(app, request.args.get("language"), version)
    except ServiceError as exc:
        abort(exc.status, description=exc.message)
    return Response(
        code.zip_bytes(),
        mimetype="application/zip",
        headers={"Content-Disposition": code.content_disposition()},
    )


@web_plans.route("/<int:app_id>/plan/event", methods=["GET", "POST"])
@login_required
def edit_event(app_id: int):
    """One event of the working copy as a form (`?name=`), or a new event (no name)."""
    app = owned_or_404(app_id)
    old_name = request.args.get("name")
    working_version, working = plans.working_copy(app)
    schema = working.get("events", {}).get(old_name) if old_name is not None else {}
    if schema is None:
        abort(404, description=f"The plan has no event {old_name!r}.")
    form = EventForm()
    try:
        rows = schema_to_rows(schema)
    except NotFormEditable as exc:
        return render_template(
            "apps/plan_event.html", app=app, form=None, name=old_name, reason=str(exc)
        )
    if form.validate_on_submit():
        action = request.form.get("action", "draft")
        if action == "delete" and old_name is None:
            return redirect(url_for("plans.edit", app_id=app.id))
        try:
            new_schema = None if action == "delete" else rows_to_schema(_rows(form), schema)
            saved = plans.save_event(
                app, old_name, form.name.data.strip(), new_schema, publish=action == "publish"
            )
        except (ValueError, PlanError) as exc:
            flash(str(exc), "error")
        else:
            state = "published" if saved.status == "published" else "saved as a draft"
            flash(f"Version {saved.version} {state}.", "info")
            if action == "delete":
                return redirect(url_for("plans.edit", app_id=app.id))
            return redirect(url_for("plans.edit_event", app_id=app.id, name=form.name.data.strip()))
    elif request.method == "GET":
        form.name.data = old_name
        for row in [*rows, *[None] * BLANK_ROWS]:
            form.rows.append_entry(_row_data(row))
    return render_template(
        "apps/plan_event.html",
        app=app,
        form=form,
        name=old_name,
        working_version=working_version,
        reason=None,
    )


@web_plans.route("/<int:app_id>/plan/infer", methods=["GET", "POST"])
@login_required
def infer(app_id: int):
    """The observed events the plan lacks, to tick; posting the ticked names saves a draft
    proposing a schema for each (docs/inference.md)."""
    app = owned_or_404(app_id)
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            chosen = [_name_from_token(token) for token in request.form.getlist("event")]
            inferred = plan_inference.infer_draft(app, plan_inference.DEFAULT_SAMPLE, chosen)
        except (ValueError, PlanError) as exc:  # ChoiceError is a ValueError
            flash(str(exc), "error")
        else:
            added = ", ".join(shown_name(name) for name in inferred.added)
            flash(f"Draft v{inferred.draft.version} adds {len(inferred.added)}: {added}.", "info")
            return redirect(url_for("plans.edit", app_id=app.id))
    observed = plan_inference.observed_unplanned(app, plan_inference.DEFAULT_SAMPLE)
    rows = [
        {"event": event, "shown": shown_name(event.name), "token": _name_token(event.name)}
        for event in observed.events
    ]
    return render_template(
        "apps/plan_infer.html",
        app=app,
        form=form,
        read=observed.read,
        sample=plan_inference.DEFAULT_SAMPLE,
        plausible=[row for row in rows if row["event"].plausible],
        implausible=[row for row in rows if not row["event"].plausible],
    )


def _name_token(name: str) -> str:
    """An event name as a checkbox value: JSON in ASCII, so control characters, line breaks
    and the like survive HTML and form encoding exactly."""
    return json.dumps(name)


def _name_from_token(token: str) -> str:
    try:
        name = json.loads(token)
    except json.JSONDecodeError:
        name = None
    if not isinstance(name, str):
        raise ValueError("The form sent an event that is not a name; reload the page.")
    return name


@web_plans.post("/<int:app_id>/plan/<int:version>/publish")
@login_required
def publish(app_id: int, version: int):
    app = owned_or_404(app_id)
    if EmptyForm().validate_on_submit():
        # Plan versions are INTEGERs: a larger one names none (and would not bind).
        if version > MAX_ID or not plans.publish_version(app, version):
            abort(404)
        flash(f"Version {version} published.", "info")
    return redirect(url_for("plans.edit", app_id=app.id))


def _row_data(row: PropertyRow | None) -> dict[str, Any]:
    """A row as the form's field values (an empty row for None)."""
    if row is None:
        return {"type": "string"}
    return {
        "path": row.path,
        "type": row.type,
        "required": row.required,
        "nullable": row.nullable,
        "enum": _enum_text(row.enum),
        "pattern": row.pattern or "",
        "minimum": _number_text(row.minimum),
        "maximum": _number_text(row.maximum),
        "description": row.description or "",
        "pii": row.pii,
    }


def _rows(form: EventForm) -> list[PropertyRow]:
    """The form's rows with a path and not marked for removal; ValueError names a bad field."""
    rows = []
    for entry in form.rows:
        fields = entry.form
        path = (fields.path.data or "").strip()
        if not path or fields.remove.data:
            continue
        kind = fields.type.data
        rows.append(
            PropertyRow(
                path=path,
                type=kind,
                required=fields.required.data,
                nullable=fields.nullable.data,
                enum=_parse_enum(fields.enum.data, kind, path),
                pattern=(fields.pattern.data or "").strip() or None,
                minimum=_parse_number(fields.minimum.data, path, "min"),
                maximum=_parse_number(fields.maximum.data, path, "max"),
                description=(fields.description.data or "").strip() or None,
                pii=fields.pii.data,
            )
        )
    return rows


def _enum_text(values: list[Any] | None) -> str:
    """Allowed values as the user types them: `a, b` for plain strings, JSON otherwise."""
    if not values:
        return ""
    if all(isinstance(v, str) and v and "," not in v and v == v.strip() for v in values):
        return ", ".join(values)
    return json.dumps(values)


def _parse_enum(text: str | None, kind: str, path: str) -> list[Any] | None:
    """`a, b, c` (typed by the row's type) or a JSON array; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError:
            values = None
        if not isinstance(values, list):
            raise ValueError(f"{path}: the allowed values are not a JSON array")
        return values
    parts = [part.strip() for part in text.split(",")]
    try:
        if kind == "integer":
            return [int(part) for part in parts]
        if kind == "number":
            return [_parse_number(part, path, "value") for part in parts]
        if kind == "boolean":
            return [{"true": True, "false": False}[part.lower()] for part in parts]
    except (ValueError, KeyError):
        raise ValueError(f"{path}: the allowed values are not all of type {kind}")
    return parts


def _parse_number(text: str | None, path: str, what: str) -> float | int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{path}: {what} {text!r} is not a number")
    if not math.isfinite(number):
        raise ValueError(f"{path}: {what} must be a finite number")
    return int(number) if number.is_integer() and "." not in text else number


def _number_text(value: float | None) -> str:
    return "" if value is None else str(value)
