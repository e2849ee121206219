"""App pages: the signed-in user's apps, a new app, one app with its keys and snippets.

Every route looks the app up through its owner: another user's app is a 404, like one that
does not exist (tests/web/test_ownership.py tries every route)."""

from __future__ import annotations

import redis
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from kombu.exceptions import KombuError

from app.api.routes import MAX_BIG_ID, int_arg
from app.services import alerts
from app.services import apps as app_service
from app.services import overview as stats
from app.services.events import FILTERS, event_to_dict, list_events
from app.services.regressions import app_versions, regression_report
from app.services.test_runs import test_run_report
from app.tasks.batch import batch_process_events
from app.web import charts
from app.web.forms import AlertSettingsForm, EmptyForm, NewAppForm
from app.web.sdk_snippets import sdk_snippets

web_apps = Blueprint("apps", __name__, url_prefix="/apps")
STATUSES = ("valid", "invalid", "unplanned")
# The overview's time ranges, in hours, and the hours per bar of their charts (30 days of
# hourly bars would be 2,000 shapes: measured at 60 ms of drawing with `make pages`).
WINDOWS = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24}
STEPS = {"24h": 1, "7d": 1, "30d": 24}


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
        flash("Give the app a name of 1 to 255 characters.", "error")
        return redirect(url_for("apps.index"))
    new = app_service.create_app_record(form.name.data, owner_id=current_user.id)
    _show_once(new.app.id, new.read_key)
    return redirect(url_for("apps.show", app_id=new.app.id))


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
    page = render_template(
        "apps/show.html",
        app=app,
        base=base,
        form=EmptyForm(),
        alerts=AlertSettingsForm.of(app),
        read_key=read_key,
        snippets=sdk_snippets(app.write_key, http_url, https_url),
        https_url=https_url,
    )
    # A page with a read key on it stays out of every cache (the back button included).
    return page, {"Cache-Control": "no-store"} if read_key else {}


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
    """The live stream: the page polls `events.json` every second (see app/static/live.js)."""
    app = owned_or_404(app_id)
    return render_template("apps/live.html", app=app, filters=FILTERS, statuses=STATUSES)


@web_apps.get("/<int:app_id>/overview")
@login_required
def overview(app_id: int):
    """Volume and failing share per hour, per-event health, top violations (from aggregates)."""
    app = owned_or_404(app_id)
    window = request.args.get("window", "24h")
    if window not in WINDOWS:
        window = "24h"
    hours, health = stats.window_counts(app.id, WINDOWS[window], STEPS[window])
    bars, top = charts.volume_bars(hours)
    versions = app_versions(app.id)
    base, head = request.args.get("base"), request.args.get("head")
    report = regression_report(app.id, base, head) if base and head else None
    return render_template(
        "apps/overview.html",
        app=app,
        window=window,
        windows=WINDOWS,
        hours=hours,
        step=STEPS[window],
        bars=bars,
        top=top,
        share=charts.share_points(hours),
        chart=charts,
        health=health,
        violations=stats.top_violations(app.id, WINDOWS[window]),
        updated=stats.last_aggregated(),
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


@web_apps.get("/<int:app_id>/test-runs/<path:test_run>")
@login_required
def test_run(app_id: int, test_run: str):
    """A test run's pass/fail report, shareable by link with whoever can see the app."""
    app = owned_or_404(app_id)
    report = test_run_report(app.id, test_run)
    if report is None:
        abort(404, description=f"No events of test run {test_run!r} were stored for this app.")
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


@web_apps.post("/<int:app_id>/rename")
@login_required
def rename(app_id: int):
    app = owned_or_404(app_id)
    form = NewAppForm()
    if form.validate_on_submit():
        app_service.rename_app(app, form.name.data)
    return redirect(url_for("apps.show", app_id=app.id))
