"""Deliveries: one row per message to one webhook, and the row is the truth.

A delivery is recorded `pending` with its next attempt due now. An attempt first claims the row
(one conditional UPDATE that pushes `next_attempt_at` a lease ahead and counts the attempt), so
two copies of the task never both post; then it posts and records the answer: delivered,
failed, or pending again after a backoff. A worker killed mid-attempt leaves a pending row whose
lease runs out, and the sweep queues it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm.exc import StaleDataError

from app.extensions import db
from app.models import TrackedApp, Webhook, WebhookDelivery
from app.models.types import utcnow
from app.services.webhooks import payloads, transport
from app.services.webhooks.payloads import JSON, USER_AGENT
from app.services.webhooks.signing import signature

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
KEEP_PER_WEBHOOK = 200
LOG_SIZE = 20
SWEEP_BATCH = 500


@dataclass(frozen=True)
class Settings:
    """WEBHOOK_TIMEOUT_SECONDS, WEBHOOK_RETRY_BASE_SECONDS, WEBHOOK_MAX_ATTEMPTS and
    WEBHOOK_PRIVATE_ADDRESSES."""

    timeout: float
    retry_base: float
    max_attempts: int
    private_addresses: str

    @property
    def lease(self) -> timedelta:
        """How long a claimed attempt may take (connect + read) before the sweep may redo it."""
        return timedelta(seconds=2 * self.timeout + 30)

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after `attempts` failed ones: base, 2x, 4x..."""
        return self.retry_base * 2 ** (attempts - 1)


@dataclass(frozen=True)
class Outcome:
    """What an attempt left: the delivery's state, and when pending, seconds to its next try."""

    state: str
    retry_in: float | None = None


def app_figures(app: TrackedApp, public_url: str) -> dict[str, Any]:
    """The `app` object of every body."""
    return {"id": app.id, "name": app.name, "url": public_url.rstrip("/") + f"/apps/{app.id}"}


def active_webhooks(app_id: int) -> list[Webhook]:
    return list(
        db.session.scalars(
            select(Webhook).where(Webhook.app_id == app_id, Webhook.active).order_by(Webhook.id)
        )
    )


def record(
    app: TrackedApp,
    webhooks: Iterable[Webhook],
    message: str,
    data: dict[str, Any],
    public_url: str,
) -> list[int]:
    """Pending deliveries of one message to each webhook, due now (the real clock, whatever
    time an alert check stands in for), in the caller's transaction (not committed: the
    alert's claim commits them with it); returns their ids."""
    now = utcnow()
    ids = []
    for webhook in webhooks:
        delivery = WebhookDelivery(
            webhook_id=webhook.id,
            app_id=app.id,
            message=message,
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            body="",
        )
        db.session.add(delivery)
        db.session.flush()  # its id goes into the body
        delivery.body = payloads.body(
            webhook.kind, message, delivery.id, now, app_figures(app, public_url), data
        )
        _prune(webhook.id)
        ids.append(delivery.id)
    return ids


def record_test(app: TrackedApp, webhook: Webhook, public_url: str) -> int:
    """A `test` delivery to one webhook, committed; returns its id."""
    data = payloads.figures(payloads.TEST, {"link": public_url.rstrip("/") + f"/apps/{app.id}"})
    (delivery_id,) = record(app, [webhook], payloads.TEST, data, public_url)
    db.session.commit()
    return delivery_id


def discard(ids: list[int]) -> None:
    """Drop deliveries recorded under a claim that was given back (none was attempted)."""
    if ids:
        db.session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.id.in_(ids), WebhookDelivery.attempts == 0
            )
        )


def _prune(webhook_id: int) -> None:
    """Keep a webhook's newest KEEP_PER_WEBHOOK deliveries."""
    oldest_kept = db.session.scalar(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .offset(KEEP_PER_WEBHOOK - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        db.session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.id < oldest_kept
            )
        )


def headers(webhook: Webhook, delivery: WebhookDelivery, timestamp: int) -> dict[str, str]:
    """The request's headers; the json kind's are signed over `timestamp` and the body."""
    values = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if webhook.kind == JSON:
        values.update(
            {
                "X-LVD-Event": delivery.message,
                "X-LVD-Delivery": str(delivery.id),
                "X-LVD-Timestamp": str(timestamp),
                "X-LVD-Signature": signature(
                    webhook.secret or "", timestamp, delivery.body.encode()
                ),
            }
        )
    return values


def _claim(delivery_id: int, settings: Settings, now: datetime) -> bool:
    result = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.state == PENDING,
            WebhookDelivery.next_attempt_at <= now,
            WebhookDelivery.attempts < settings.max_attempts,
        )
        .values(next_attempt_at=now + settings.lease, attempts=WebhookDelivery.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def attempt(
    delivery_id: int, settings: Settings, clock: Callable[[], datetime] = utcnow
) -> Outcome | None:
    """Claim one due pending delivery, post it and record the answer; None when it was not
    due or not pending (another copy of the task has it, or it is settled)."""
    if not _claim(delivery_id, settings, clock()):
        return None
    delivery = db.session.get(WebhookDelivery, delivery_id)
    webhook = db.session.get(Webhook, delivery.webhook_id) if delivery else None
    if delivery is None or webhook is None:
        return None  # removed meanwhile (its deliveries go with it)
    timestamp = int(clock().timestamp())
    answer = transport.post(
        webhook.url,
        delivery.body.encode(),
        headers(webhook, delivery, timestamp),
        settings.timeout,
        settings.private_addresses,
    )
    now = clock()
    delivery.response_status, delivery.error = answer.status, answer.error
    outcome = Outcome(DELIVERED)
    if answer.delivered:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at = DELIVERED, now, None
    elif answer.retryable and delivery.attempts < settings.max_attempts:
        wait = settings.backoff(delivery.attempts)
        if answer.status == 429 and answer.retry_after is not None:
            wait = answer.retry_after  # the receiver said when
        delivery.next_attempt_at = now + timedelta(seconds=wait)
        outcome = Outcome(PENDING, wait)
    else:
        delivery.state, delivery.next_attempt_at = FAILED, None
        outcome = Outcome(FAILED)
    try:
        db.session.commit()
    except StaleDataError:  # the webhook was removed while it was being posted to
        db.session.rollback()
        return None
    return outcome


def give_up_unfinished(settings: Settings, now: datetime | None = None) -> int:
    """Fail pending deliveries whose every attempt was claimed and none recorded an answer
    (each one's worker died mid-attempt), once the last lease ran out; how many."""
    result = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.state == PENDING,
            WebhookDelivery.attempts >= settings.max_attempts,
            WebhookDelivery.next_attempt_at <= (now or utcnow()),
        )
        .values(
            state=FAILED,
            next_attempt_at=None,
            error=f"no answer recorded after {settings.max_attempts} attempts "
            "(the worker stopped mid-attempt)",
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount


def overdue(now: datetime | None = None, limit: int = SWEEP_BATCH) -> list[int]:
    """Pending deliveries whose next attempt is due (their task was lost, or a worker died
    holding them), oldest first."""
    return list(
        db.session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.state == PENDING,
                WebhookDelivery.next_attempt_at <= (now or utcnow()),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
    )


def log(app_id: int, limit: int = LOG_SIZE) -> list[tuple[WebhookDelivery, Webhook]]:
    """The app's newest deliveries with their webhooks."""
    rows = db.session.execute(
        select(WebhookDelivery, Webhook)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.app_id == app_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return [(delivery, webhook) for delivery, webhook in rows]
