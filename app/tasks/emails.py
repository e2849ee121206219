"""The `emails` queue: sending mail over SMTP."""

from __future__ import annotations

import smtplib

from celery import shared_task
from flask import current_app, render_template

from app.services import accounts
from app.services.mail import send_mail

RETRIED = {
    "autoretry_for": (smtplib.SMTPException, OSError),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(**RETRIED)
def send_email_async(to: list[str], subject: str, text: str, html: str | None = None) -> None:
    """Send one e-mail through the configured SMTP server, retrying while it is unreachable."""
    config = current_app.config
    send_mail(config["SMTP_URL"], config["MAIL_FROM"], to, subject, text, html)


def code_mail(code_id: int) -> tuple[list[str], str, str, str] | None:
    """Draw the code of row `code_id` and write its mail (to, subject, text, html); None when
    the code was replaced, used or expired before its mail went out."""
    issued = accounts.issue_code(code_id, current_app.config["SECRET_KEY"])
    if issued is None:
        return None
    what = (
        "confirm your e-mail address"
        if issued.purpose == accounts.VERIFY
        else ("choose a new password")
    )
    subject = f"Your Live Validation code: {issued.code}"
    text = (
        f"Your code is {issued.code}. Enter it to {what}.\n\n"
        f"It works once, for {accounts.CODE_MINUTES} minutes. If you did not ask for it, "
        "ignore this e-mail."
    )
    html = render_template(
        "mail/code.html", code=issued.code, what=what, minutes=accounts.CODE_MINUTES
    )
    return [issued.email], subject, text, html


@shared_task(**RETRIED)
def send_code_mail(code_id: int) -> None:
    """Mail the code of an e-mail code row. The task gets the row's id, never the code: queued
    messages are readable in the broker and in Flower."""
    mail = code_mail(code_id)
    if mail is not None:
        config = current_app.config
        send_mail(config["SMTP_URL"], config["MAIL_FROM"], *mail)
