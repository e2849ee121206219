"""App pages: the signed-in user's apps, a new app, one app with its keys and snippets.

Every route looks the app up through its owner: another user's app is a 404, like one that
does not exist (tests/dashboard/test_ownership.py tries every route)."""

from __future__ import annotations

from functools import partial
from urllib.parse import quote

import redis
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from kombu.exceptions import KombuError

from app.api.cursors import decode_id, encode_id
from app.dashboard import charts
from app.dashboard.forms import AlertSettingsForm, EmptyForm, NewAppForm, PiiPolicyForm
from app.dashboard.sdk_snippets import sdk_snippets
from app.dashboard.webhook_section import webhook_section
from app.request_args import MAX_BIG_ID, int_arg
from app.services import alerts
from app.services import apps as app_service
from app.services.plans import starters
from app.services.statistics import overview as app_overview
from app.services.statistics.regressions import app_versions, regression_report
from app.services.statistics.run_reports import list_test_runs, test_run_report
from app.services.storage.events import (
    FILTERS,
    event_to_dict,
    list_events,
)
from app.tasks.batch import batch_process_events
from app.validation import PlanError
from app.validation.plan import MAX_PLAN_BYTES
from app.validation.verdict import STATUSES

web_apps = Blueprint("apps", __name__, url_prefix="/apps")
WINDOWS = app_overview.WINDOWS
RUNS_PER_PAGE = 25


def owned_or_404(app_id: int):
    app = app_service.owned_app(current_user.id, app_id)
    if app is None:
        abort(404)
    return app


@web_apps.get("")
@login_required
def index():
    return render_template(
        "apps/index.html", apps=app_service.apps_of(current_user.id), form=NewAppForm()
    )


@web_apps.post("")
@login_required
def create():
    form = NewAppForm()
    if not form.validate_on_submit():
        if "name" in form.errors:
            flash("The app was not created: " + form.errors["name"][0], "error")
        else:
            flash("Choose how the app's plan starts: " + "; ".join(_errors(form)), "error")
        return _index_again(form)
    try:
        plan = _chosen_plan(form)
        new = app_service.create_app_record(form.name.data, plan, owner_id=current_user.id)
    except PlanError as exc:
        flash(f"The app was not created: {exc}", "error")
        return _index_again(form)
    _show_once(new.app.id, new.read_key)
    return redirect(url_for("apps.show", app_id=new.app.id))


def _errors(form: NewAppForm) -> list[str]:
    return [error for errors in form.errors.values() for error in errors]


def _index_again(form: NewAppForm):
    """The apps page with the form as it was sent (its name kept), answered 400."""
    page = render_template("apps/index.html", apps=app_service.apps_of(current_user.id), form=form)
    return page, 400


def _chosen_plan(form: NewAppForm) -> dict | None:
    """The plan the form asks for: a template's, or the uploaded file's (checked as any save)."""
    upload = form.plan_file.data
    if form.template.data != starters.UPLOAD:
        if upload:
            raise PlanError("A plan file was chosen with another start: choose the upload.")
        return starters.template_plan(form.template.data)
    if not upload:
        raise PlanError("Choose the plan file to upload.")
    # One byte over the cap is enough to refuse it; the request's own cap bounds the rest.
    return starters.plan_from_file(upload.read(MAX_PLAN_BYTES + 1))


def _show_once(app_id: int, read_key: str) -> None:
    """Keep a new read key server-side for the app page to show once (only its hash is
    stored; a flash would carry it in the session cookie)."""
    if not current_app.extensions["shown_once"].put(
        f"read-key:{current_user.id}:{app_id}", read_key
    ):
        flash(
            "The new read key could not be kept to show you (Redis is unreachable): "
            "make a new one shortly.",
            "error",
        )


@web_apps.get("/<int:app_id>")
@login_required
def show(app_id: int):
    app = owned_or_404(app_id)
    base = request.host_url.rstrip("/")
    http_url, https_url = _service_urls()
    read_key = current_app.extensions["shown_once"].take(f"read-key:{current_user.id}:{app.id}")
    webhooks = webhook_section(app.id)
    page = render_template(
        "apps/show.html",
        app=app,
        base=base,
        form=EmptyForm(),
        alerts=AlertSettingsForm.of(app),
        pii_form=PiiPolicyForm(policy=app.pii_policy),
        read_key=read_key,
        snippets=sdk_snippets(app.write_key, http_url, https_url),
        https_url=https_url,
        **webhooks,
    )
    # A page with a read key or signing secret on it stays out of every cache (the back
    # button included).
    secret_shown = read_key or webhooks["new_secret"]
    return page, {"Cache-Control": "no-store"} if secret_shown else {}


def _service_urls() -> tuple[str, str | None]:
    """This service's plain and HTTPS base URLs for SDKs: the one this page was asked on, and
    the other from the configuration (micro sets PUBLIC_HTTPS_URL when it serves HTTPS)."""
    asked = request.host_url.rstrip("/")
    if request.is_secure:
        return current_app.config["PUBLIC_URL"], asked
    return asked, current_app.config["PUBLIC_HTTPS_URL"] or None


@web_apps.get("/<int:app_id>/live")
@login_required
def live(app_id: int):
    """The live stream: the page polls `events.json` every second (dashboard/static/live.js)."""
    app = owned_or_404(app_id)
    return render_template("apps/live.html", app=app, filters=FILTERS, statuses=STATUSES)


@web_apps.get("/<int:app_id>/overview")
@login_required
def overview(app_id: int):
    """Volume and failing share per minute, hour or day with plan publishes marked, per-event
    health, top violations (from aggregates); an unknown window or resolution shows the
    default one."""
    app = owned_or_404(app_id)
    window = request.args.get("window", "24h")
    if window not in WINDOWS:
        window = "24h"
    resolution = request.args.get("resolution")
    if resolution not in app_overview.WINDOW_RESOLUTIONS[window]:
        resolution = app_overview.WINDOW_RESOLUTIONS[window][0]
    buckets, health = app_overview.window_counts(app.id, WINDOWS[window], resolution)
    bars, top = charts.volume_bars(buckets)
    publishes = app_overview.plan_publishes(app.id, buckets[0].start)
    versions = app_versions(app.id)
    base, head = request.args.get("base"), request.args.get("head")
    report = regression_report(app.id, base, head) if base and head else None
    return render_template(
        "apps/overview.html",
        app=app,
        window=window,
        windows=WINDOWS,
        resolution=resolution,
        resolutions=app_overview.WINDOW_RESOLUTIONS[window],
        buckets=buckets,
        bars=bars,
        top=top,
        share=charts.share_points(buckets),
        share_lines=charts.share_lines(buckets),
        markers=charts.publish_markers(buckets, publishes),
        chart=charts,
        health=health,
        violations=app_overview.top_violations(app.id, WINDOWS[window]),
        pii_findings=app_overview.pii_findings(app.id, WINDOWS[window]),
        updated=app_overview.last_aggregated(),
        form=EmptyForm(),
        versions=versions,
        base=base or (versions[1] if len(versions) > 1 else None),
        head=head or (versions[0] if versions else None),
        report=report,
    )


@web_apps.post("/<int:app_id>/overview/recount")
@login_required
def recount(app_id: int):
    """Queue a recount of the app's statistics now, rather than at beat's next run."""
    app = owned_or_404(app_id)
    window = request.args.get("window", "24h")
    if EmptyForm().validate_on_submit():
        try:
            batch_process_events.delay(app.id, WINDOWS.get(window, 24))
        except (KombuError, redis.RedisError, OSError):
            flash("The queue is unreachable: the statistics are recounted on schedule.", "error")
        else:
            flash("Recount queued: reload in a few seconds.", "info")
    return redirect(url_for("apps.overview", app_id=app.id, window=window))


@web_apps.get("/<int:app_id>/events.json")
@login_required
def events_json(app_id: int):
    """Newest events first, filtered; `after=<id>` returns only newer ones (the poll)."""
    app = owned_or_404(app_id)
    filters = {name: request.args[name] for name in FILTERS if request.args.get(name)}
    # An id beyond BIGINT would not bind (a 500); a bad one is the caller's error, in JSON.
    after = int_arg("after", 0, 0, MAX_BIG_ID) or None
    rows, _ = list_events(app.id, filters, limit=100, after_id=after)
    return {"events": [event_to_dict(row) for row in rows]}


@web_apps.get("/<int:app_id>/test-runs")
@login_required
def test_runs(app_id: int):
    """The app's recent test runs, the most recently active first, a page per cursor."""
    app = owned_or_404(app_id)
    cursor = request.args.get("cursor")
    try:
        before = decode_id(cursor) if cursor else None
    except ValueError:
        before = None  # a link mangled by hand: the first page
    runs, next_id = list_test_runs(
        app.id, RUNS_PER_PAGE, before, partial(current_app.extensions["run_counts"].read, app.id)
    )
    return render_template(
        "apps/test_runs.html",
        app=app,
        runs=runs,
        next_cursor=encode_id(next_id) if next_id is not None else None,
    )


@web_apps.app_template_global()
def test_run_url(app_id: int, name: str) -> str:
    """The report page of run `name`; every character of the name is percent-encoded, so
    "..", "/" or "?" in it stay part of the name."""
    return url_for("apps.test_run_by_name", app_id=app_id) + "?name=" + quote(name, safe="")


@web_apps.app_template_global()
def test_run_api_url(name: str) -> str:
    """The same report as JSON (read key), encoded like test_run_url."""
    return url_for("api.test_run_by_name") + "?name=" + quote(name, safe="")


@web_apps.get("/<int:app_id>/test-runs/report")
@login_required
def test_run_by_name(app_id: int):
    """The report of the run named by ?name=: the form every link uses, since no path can
    carry a run named "." or ".." (browsers resolve them, even percent-encoded)."""
    owned_or_404(app_id)  # a stranger learns nothing, not even that the name is missing
    name = request.args.get("name")
    if not name:
        abort(404, description="Name the test run: ?name=<run>.")
    return test_run(app_id, name)


@web_apps.get("/<int:app_id>/test-runs/<path:test_run>")
@login_required
def test_run(app_id: int, test_run: str):
    """A test run's pass/fail report, shareable by link with whoever can see the app."""
    app = owned_or_404(app_id)
    # With its admission counts, so blocked events fail the run here as in the API.
    counts = current_app.extensions["run_counts"].read(app.id, test_run)
    report = test_run_report(app.id, test_run, counts)
    if report is None:
        abort(404, description=f"This app has never heard of test run {test_run!r}.")
    return render_template("apps/test_run.html", app=app, report=report)


@web_apps.post("/<int:app_id>/rotate-write-key")
@login_required
def rotate_write_key(app_id: int):
    app = owned_or_404(app_id)
    if EmptyForm().validate_on_submit():
        app_service.rotate_write_key(app)
        flash("New write key: the old one no longer works.", "info")
    return redirect(url_for("apps.show", app_id=app.id))


@web_apps.post("/<int:app_id>/rotate-read-key")
@login_required
def rotate_read_key(app_id: int):
    app = owned_or_404(app_id)
    if EmptyForm().validate_on_submit():
        _show_once(app.id, app_service.rotate_read_key(app))
    return redirect(url_for("apps.show", app_id=app.id))


@web_apps.post("/<int:app_id>/alerts")
@login_required
def alert_settings(app_id: int):
    """Change when the app's owner is mailed about failing events."""
    app = owned_or_404(app_id)
    form = AlertSettingsForm()
    if form.validate_on_submit():
        share = None if form.threshold.data is None else form.threshold.data / 100
        alerts.change_settings(
            app, share, form.window_minutes.data, form.min_events.data, form.cooldown_minutes.data
        )
        flash("Alert settings saved.", "info")
    else:
        flash("Alert settings not saved: " + "; ".join(sum(form.errors.values(), [])), "error")
    return redirect(url_for("apps.show", app_id=app.id))


@web_apps.post("/<int:app_id>/pii")
@login_required
def pii_policy(app_id: int):
    """Change what personal data in the app's property values does."""
    app = owned_or_404(app_id)
    form = PiiPolicyForm()
    if form.validate_on_submit():
        app_service.set_pii_policy(app, form.policy.data)
        flash("PII policy saved.", "info")
    else:
        flash("PII policy not saved: " + "; ".join(sum(form.errors.values(), [])), "error")
    return redirect(url_for("apps.show", app_id=app.id))


@web_apps.post("/<int:app_id>/rename")
@login_required
def rename(app_id: int):
    app = owned_or_404(app_id)
    form = NewAppForm()
    if form.validate_on_submit():
        app_service.rename_app(app, form.name.data)
    elif "name" in form.errors:
        flash("The app was not renamed: " + form.errors["name"][0], "error")
    return redirect(url_for("apps.show", app_id=app.id))
