"""The `emails` queue: sending mail over SMTP."""

from __future__ import annotations

import smtplib

from celery import shared_task
from flask import current_app, render_template

from app.services.accounts import users as accounts
from app.services.mail import CODE_FOR_HEADER, CODE_HEADER, send_mail

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


# What an account mail is for; the task decides from the account's state what to send, so the
# request that queues it does the same work whether or not the address has an account.
SIGN_UP, CONFIRM, RESET = "sign-up", "confirm", "reset"
TAKEN_NOTICE = (
    "Someone, probably you, tried to sign up with this address, which already has an account. "
    "Log in, or reset your password if you forgot it. If it was not you, ignore this e-mail: "
    "nothing changed."
)


# What a code is for, as the code's header (and micro's console line) names it.
CODE_FOR = {accounts.VERIFY: "sign-up", accounts.RESET: "password reset"}
AccountMail = tuple[list[str], str, str, str | None, dict[str, str]]


def account_mail(email: str, reason: str) -> AccountMail | None:
    """The mail (to, subject, text, html, headers) `reason` calls for at `email`, drawing a code
    when it carries one; None when there is nothing to send (no account, or already confirmed)."""
    user = accounts.find_user(email)
    if user is None:
        return None
    if reason == SIGN_UP and user.verified_at is not None:
        return [user.email], "Your Live Validation account", TAKEN_NOTICE, None, {}
    if reason in (SIGN_UP, CONFIRM) and user.verified_at is not None:
        return None
    purpose = accounts.RESET if reason == RESET else accounts.VERIFY
    code = accounts.issue_code(user, purpose, current_app.config["SECRET_KEY"])
    what = "choose a new password" if purpose == accounts.RESET else "confirm your e-mail address"
    subject = f"Your Live Validation code: {code}"
    text = (
        f"Your code is {code}. Enter it to {what}.\n\n"
        f"It works once, for {accounts.CODE_MINUTES} minutes. If you did not ask for it, "
        "ignore this e-mail."
    )
    html = render_template("mail/code.html", code=code, what=what, minutes=accounts.CODE_MINUTES)
    headers = {CODE_HEADER: code, CODE_FOR_HEADER: CODE_FOR[purpose]}
    return [user.email], subject, text, html, headers


@shared_task(**RETRIED)
def send_account_mail(email: str, reason: str) -> None:
    """Send the account mail `reason` calls for. The task gets the address, never a code:
    queued messages are readable in the broker and in Flower. A retry draws a new code (only
    the newest mail's code works)."""
    mail = account_mail(email, reason)
    if mail is not None:
        config = current_app.config
        send_mail(config["SMTP_URL"], config["MAIL_FROM"], *mail)
