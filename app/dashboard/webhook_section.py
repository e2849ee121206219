"""The Webhooks section of the app page: what it shows (the routes are in webhooks.py)."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user

from app.dashboard.forms import WebhookForm
from app.services.webhooks import deliveries, hooks, urls


def secret_key(app_id: int) -> str:
    """Where a new signing secret waits (app/dashboard/shown_once.py) for the page."""
    return f"webhook-secret:{current_user.id}:{app_id}"


def webhook_section(app_id: int) -> dict:
    """What the app page's Webhooks section shows: the webhooks (Slack URLs masked), the new
    secret to show once, the log, the forms."""
    shown = current_app.extensions["shown_once"].take(secret_key(app_id))
    secret_for, _, secret = shown.partition(":") if shown else ("", "", "")
    webhooks = [
        {"hook": hook, "shown_url": hook.url if hook.kind == "json" else urls.masked(hook.url)}
        for hook in hooks.of_app(app_id)
    ]
    return {
        "webhooks": webhooks,
        "webhook_form": WebhookForm(),
        "new_secret": secret or None,
        "new_secret_for": int(secret_for) if secret_for else None,
        "delivery_log": deliveries.log(app_id),
    }
