"""Helpers of the webhook tests: an owned app with a webhook, settings, a stepping clock, and
the verification snippet of docs/webhooks.md, run as written."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask

from app.extensions import db
from app.models import TrackedApp, Webhook, WebhookDelivery
from app.services.accounts import users as accounts
from app.services.apps import create_app_record
from app.services.webhooks import deliveries, hooks
from stack.servers import ROOT
from tests.helpers import DEMO_PLAN

PUBLIC_URL = "https://lvd.example"


def settings(**changes: object) -> deliveries.Settings:
    """Delivery settings for tests: a tiny backoff base, private addresses allowed."""
    values = {"timeout": 2.0, "retry_base": 0.01, "max_attempts": 6, "private_addresses": "allow"}
    return deliveries.Settings(**{**values, **changes})


def app_with_webhook(
    flask_app: Flask, url: str, kind: str = "json", name: str = "shop", owner: bool = True
) -> tuple[int, int, str | None]:
    """An app (owned by a new account, unless `owner` is False) with one webhook; returns the
    app's id, the webhook's id and its secret."""
    with flask_app.app_context():
        owner_id = accounts.sign_up(f"{name}@example.com", "a long password").id if owner else None
        app = create_app_record(name, DEMO_PLAN, owner_id=owner_id).app
        hook, secret = hooks.add(app, kind, url, "allow")
        return app.id, hook.id, secret


def recorded_test(flask_app: Flask, app_id: int, webhook_id: int) -> int:
    """A recorded `test` delivery; its id."""
    with flask_app.app_context():
        app = db.session.get(TrackedApp, app_id)
        return deliveries.record_test(app, db.session.get(Webhook, webhook_id), PUBLIC_URL)


def row(flask_app: Flask, delivery_id: int) -> WebhookDelivery:
    """A delivery as stored now (detached from the session)."""
    with flask_app.app_context():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        db.session.expunge(delivery)
        return delivery


class Clock:
    """A clock that stands still until moved: attempts and backoff without waiting."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def move(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def documented_verify() -> Callable[..., bool]:
    """The `verify` function of docs/webhooks.md's Python block, as a reader would copy it."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    section = text[text.index("## Verifying the signature") :]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # noqa: S102 (our own docs)
    return namespace["verify"]
