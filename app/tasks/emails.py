"""The `emails` queue: sending mail over SMTP."""

from __future__ import annotations

import smtplib

from celery import shared_task
from flask import current_app

from app.services.mail import send_mail


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def send_email_async(to: list[str], subject: str, text: str, html: str | None = None) -> None:
    """Send one e-mail through the configured SMTP server, retrying while it is unreachable."""
    config = current_app.config
    send_mail(config["SMTP_URL"], config["MAIL_FROM"], to, subject, text, html)
