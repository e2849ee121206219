"""The `batch_processing` queue: violation alerts and daily digests (both scheduled by beat),
mailed and posted to webhooks."""

from __future__ import annotations

from datetime import date, datetime

from celery import shared_task
from flask import current_app

from app.services import alerts
from app.tasks.emails import send_email_async
from app.tasks.webhooks import queue_deliveries


def queue_mail(mail: alerts.Mail) -> None:
    """Hand one e-mail to the `emails` queue, behind any account mail waiting there."""
    send_email_async.apply_async(
        (mail.to, mail.subject, mail.text, mail.html), priority=mail.priority
    )


@shared_task
def check_alerts(now: str | None = None) -> list[int]:
    """Alert the owners of apps over their threshold; `now` (ISO 8601) stands in for the clock."""
    return alerts.check_alerts(
        queue_mail,
        _public_url(),
        datetime.fromisoformat(now) if now else None,
        deliver=queue_deliveries,
    )


@shared_task
def send_daily_digests(today: str | None = None) -> list[int]:
    """Mail yesterday's digest of every owned app; `today` (ISO date) stands in for the clock."""
    return alerts.send_daily_digests(
        queue_mail,
        _public_url(),
        date.fromisoformat(today) if today else None,
        deliver=queue_deliveries,
    )


def _public_url() -> str:
    """Where the mails' links point (PUBLIC_URL)."""
    return current_app.config["PUBLIC_URL"]
