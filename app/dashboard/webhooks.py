"""An app's webhooks on its page: add, remove, send a test, a new signing secret, and the
delivery log (also as a fragment that webhooks.js reloads while a delivery is pending).

Every route finds the app through its owner (apps.owned_or_404): another user's is a 404."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import login_required

from app.dashboard.apps import owned_or_404
from app.dashboard.forms import EmptyForm, WebhookForm
from app.dashboard.webhook_section import secret_key
from app.errors import ServiceError
from app.services.webhooks import deliveries, hooks
from app.tasks.webhooks import queue_deliveries

web_webhooks = Blueprint("webhooks", __name__, url_prefix="/apps")


def _show_secret(app_id: int, webhook_id: int, secret: str) -> None:
    """Keep a new signing secret server-side for the app page to show once."""
    if not current_app.extensions["shown_once"].put(secret_key(app_id), f"{webhook_id}:{secret}"):
        flash(
            "The signing secret could not be kept to show you (Redis is unreachable): make a "
            "new one shortly.",
            "error",
        )


@web_webhooks.post("/<int:app_id>/webhooks")
@login_required
def add(app_id: int):
    app = owned_or_404(app_id)
    form = WebhookForm()
    if not form.validate_on_submit():
        flash("The webhook was not added: " + "; ".join(sum(form.errors.values(), [])), "error")
        return _back(app.id)
    try:
        hook, secret = hooks.add(
            app, form.kind.data, form.url.data, current_app.config["WEBHOOK_PRIVATE_ADDRESSES"]
        )
    except ServiceError as exc:
        flash(f"The webhook was not added: {exc.message}", "error")
        return _back(app.id)
    if secret:
        _show_secret(app.id, hook.id, secret)
    flash("Webhook added: alerts and digests are posted to it. Send a test to try it.", "info")
    return _back(app.id)


@web_webhooks.post("/<int:app_id>/webhooks/<int:webhook_id>/remove")
@login_required
def remove(app_id: int, webhook_id: int):
    app = owned_or_404(app_id)
    _webhook_or_404(app, webhook_id)
    if EmptyForm().validate_on_submit():
        _or_flash(lambda: hooks.remove(app, webhook_id), "Webhook removed.")
    return _back(app.id)


@web_webhooks.post("/<int:app_id>/webhooks/<int:webhook_id>/secret")
@login_required
def new_secret(app_id: int, webhook_id: int):
    app = owned_or_404(app_id)
    _webhook_or_404(app, webhook_id)
    if EmptyForm().validate_on_submit():
        try:
            _show_secret(app.id, webhook_id, hooks.regenerate_secret(app, webhook_id))
        except ServiceError as exc:
            flash(exc.message, "error")
    return _back(app.id)


@web_webhooks.post("/<int:app_id>/webhooks/<int:webhook_id>/test")
@login_required
def send_test(app_id: int, webhook_id: int):
    """Queue a `test` delivery: the log shows it pending, then delivered or failed."""
    app = owned_or_404(app_id)
    hook = _webhook_or_404(app, webhook_id)
    if EmptyForm().validate_on_submit():
        delivery_id = deliveries.record_test(app, hook, current_app.config["PUBLIC_URL"])
        queue_deliveries([delivery_id])
        flash("Test message queued: see the delivery log below.", "info")
    return _back(app.id)


@web_webhooks.get("/<int:app_id>/webhooks/log")
@login_required
def delivery_log(app_id: int):
    """The delivery log alone, for webhooks.js to swap in while deliveries are pending."""
    app = owned_or_404(app_id)
    return render_template("apps/_webhook_log.html", app=app, delivery_log=deliveries.log(app.id))


def _webhook_or_404(app, webhook_id: int):
    """The app's webhook, or a 404 like an app that is not the user's (no such row)."""
    try:
        return hooks.find(app, webhook_id)
    except ServiceError:
        abort(404)


def _or_flash(action, done: str) -> None:
    try:
        action()
    except ServiceError as exc:
        flash(exc.message, "error")
    else:
        flash(done, "info")


def _back(app_id: int):
    return redirect(url_for("apps.show", app_id=app_id, _anchor="webhooks"))
