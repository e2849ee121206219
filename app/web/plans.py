"""The tracking-plan editor: the plan as JSON, saved as drafts or published, and its versions
with a diff against the published one. (Editing events and properties as forms comes next.)"""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired

from app.services import plans
from app.validation import PlanError
from app.web.apps import owned_or_404
from app.web.forms import EmptyForm

web_plans = Blueprint("plans", __name__, url_prefix="/apps")


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
        except PlanError as exc:
            flash(str(exc), "error")
        else:
            state = "published" if publish else "saved as a draft"
            flash(f"Version {plan.version} {state}.", "info")
            return redirect(url_for("plans.edit", app_id=app.id))
    elif request.method == "GET":
        current = plans.published_body(app.id, app.plan_version)
        form.body.data = json.dumps(current, indent=2, sort_keys=True)
    published = plans.published_body(app.id, app.plan_version)
    history = [
        (version, plans.diff(published, version.body, "published", f"v{version.version}"))
        for version in plans.versions(app.id)
    ]
    return render_template(
        "apps/plan.html", app=app, form=form, history=history, publish_form=EmptyForm()
    )


@web_plans.post("/<int:app_id>/plan/<int:version>/publish")
@login_required
def publish(app_id: int, version: int):
    app = owned_or_404(app_id)
    if EmptyForm().validate_on_submit():
        if not plans.publish_version(app, version):
            abort(404)
        flash(f"Version {version} published.", "info")
    return redirect(url_for("plans.edit", app_id=app.id))
