"""The plan editor's impact preview: re-judge the stored events of the last N days against a
draft version (a re-validation job, nothing stored changes) and show, per event name, how many
would change verdict, by which rules, with examples. The page follows the job's progress with
the jobs API's long-poll (static/plan_impact.js) and shows the result once it is finished."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

from app.api.cursors import encode_id
from app.dashboard.apps import owned_or_404
from app.models import Job
from app.request_args import MAX_ID
from app.services.jobs import revalidation
from app.services.jobs import runner as jobs
from app.task_states import JOB_FINISHED
from app.tasks.jobs import queue_job

web_plan_impact = Blueprint("plan_impact", __name__, url_prefix="/apps")
# The plan page lists the latest previews of its draft among the app's latest re-validations.
RECENT_JOBS, SHOWN_PREVIEWS = 20, 3
MAX_DAYS = 90  # well past the default retention (EVENT_RETENTION_DAYS, 30): older events are gone


class ImpactForm(FlaskForm):
    days = IntegerField(
        "Preview impact on the last",
        default=7,
        validators=[InputRequired(), NumberRange(1, MAX_DAYS, f"From 1 to {MAX_DAYS} days.")],
    )


@web_plan_impact.post("/<int:app_id>/plan/<int:version>/impact")
@login_required
def start(app_id: int, version: int):
    """Start a re-validation of plan `version` over the last `days` days; show its page."""
    app = owned_or_404(app_id)
    if version > MAX_ID:  # plan versions are INTEGERs: a larger one names none (nor binds)
        abort(404)
    form = ImpactForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(f"Impact preview: {' '.join(errors)}", "error")
        return redirect(url_for("plans.edit", app_id=app.id))
    since = datetime.now(UTC) - timedelta(days=form.days.data)
    try:
        job = revalidation.create(app, {"plan_version": version, "since": since.isoformat()})
    except jobs.JobError as exc:
        flash(exc.message, "error")
        return redirect(url_for("plans.edit", app_id=app.id))
    queue_job(job.id)  # after the commit; if the broker is away, beat queues it later
    return redirect(url_for("plan_impact.show", app_id=app.id, job_id=job.id))


@web_plan_impact.get("/<int:app_id>/plan/impact/<int:job_id>")
@login_required
def show(app_id: int, job_id: int):
    """A preview's progress, then its result per event name."""
    app = owned_or_404(app_id)
    job = jobs.get_job(app.id, job_id) if job_id <= MAX_ID else None
    if job is None or job.kind != "revalidate":
        abort(404)
    data = jobs.job_to_dict(job)
    return render_template(
        "apps/plan_impact.html",
        app=app,
        job=data,
        days=_days(job),
        finished=job.state in JOB_FINISHED,
        rows=_rows(app.id, data["result"]),
    )


@web_plan_impact.app_template_global()
def impact_previews(app_id: int, version: int) -> list[dict[str, Any]]:
    """The latest previews of plan `version` (for the plan page's include): id, state, days."""
    found = jobs.list_jobs(app_id, kind="revalidate", limit=RECENT_JOBS)
    return [
        {"id": job.id, "state": job.state, "days": _days(job), "created_at": job.created_at}
        for job in found
        if job.params.get("plan_version") == version
    ][:SHOWN_PREVIEWS]


def _days(job: Job) -> int | None:
    """The days before the job's start its range began (None: since the first event)."""
    if not job.params.get("since"):
        return None
    created = job.created_at
    created = created.replace(tzinfo=UTC) if created.tzinfo is None else created  # SQLite
    since = datetime.fromisoformat(job.params["since"])
    return round((created - since).total_seconds() / 86400)


def _rows(app_id: int, result: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The result's rows per event name with their links; None for a job begun before results
    had them (or not begun yet)."""
    if "by_event" not in result:
        return None
    return [_with_links(app_id, row) for row in result["by_event"]]


def _with_links(app_id: int, row: dict[str, Any]) -> dict[str, Any]:
    """A by_event row with links: its name to the live stream, each example to the event in
    the read API (its list of one event, starting at that id)."""
    name = row["event_name"]
    live = url_for("apps.live", app_id=app_id, event_name=name) if name is not None else None
    examples = [
        {
            **example,
            "url": url_for(
                "api.app_events",
                app_id=app_id,
                limit=1,
                cursor=encode_id(example["id"] + 1),
                **({"event_name": name} if name is not None else {}),
            ),
        }
        for example in row["examples"]
    ]
    return {**row, "live_url": live, "examples": examples}
