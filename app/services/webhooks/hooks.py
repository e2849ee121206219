"""An app's webhooks: add (checking the URL), remove, a new signing secret, list."""

from __future__ import annotations

from sqlalchemy import select

from app.errors import ServiceError
from app.extensions import db
from app.models import TrackedApp, Webhook
from app.services.webhooks import urls
from app.services.webhooks.payloads import JSON, KINDS
from app.services.webhooks.signing import new_secret

# The id column is a PostgreSQL integer: a larger id names no row, and neither database binds
# one beyond 64 bits.
MAX_WEBHOOK_ID = 2**31 - 1

MAX_WEBHOOKS_PER_APP = 10


def of_app(app_id: int) -> list[Webhook]:
    """The app's webhooks, oldest first."""
    return list(
        db.session.scalars(select(Webhook).where(Webhook.app_id == app_id).order_by(Webhook.id))
    )


def find(app: TrackedApp, webhook_id: int) -> Webhook:
    """One webhook of the app; ServiceError(not_found) for any other id."""
    webhook = db.session.get(Webhook, webhook_id) if 0 < webhook_id <= MAX_WEBHOOK_ID else None
    if webhook is None or webhook.app_id != app.id:
        raise ServiceError("not_found", "unknown_webhook", "This app has no such webhook.")
    return webhook


def add(app: TrackedApp, kind: str, url: str, private_addresses: str) -> tuple[Webhook, str | None]:
    """A new active webhook; returns it and, for the json kind, its signing secret (shown once)."""
    if kind not in KINDS:
        raise ServiceError(
            "invalid", "unknown_webhook_kind", f"A webhook is one of {', '.join(KINDS)}."
        )
    url = url.strip()
    urls.check(url, private_addresses)
    if len(of_app(app.id)) >= MAX_WEBHOOKS_PER_APP:
        raise ServiceError(
            "conflict", "too_many_webhooks", f"An app has at most {MAX_WEBHOOKS_PER_APP} webhooks."
        )
    secret = new_secret() if kind == JSON else None
    webhook = Webhook(app_id=app.id, kind=kind, url=url, secret=secret, active=True)
    db.session.add(webhook)
    db.session.commit()
    return webhook, secret


def remove(app: TrackedApp, webhook_id: int) -> None:
    """Delete a webhook and its deliveries (a pending one is then never sent)."""
    db.session.delete(find(app, webhook_id))
    db.session.commit()


def regenerate_secret(app: TrackedApp, webhook_id: int) -> str:
    """A new signing secret for a json webhook (the old one stops matching at once)."""
    webhook = find(app, webhook_id)
    if webhook.kind != JSON:
        raise ServiceError("invalid", "no_webhook_secret", "Only json webhooks are signed.")
    webhook.secret = new_secret()
    db.session.commit()
    return webhook.secret
