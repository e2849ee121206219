"""Helpers of the alert tests: owned apps, stored and counted events, and reading the mail."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from email.message import Message
from typing import Any

from flask import Flask

from app.extensions import db
from app.services.accounts import users as accounts
from app.services.apps import create_app_record
from app.services.statistics import aggregates
from app.services.storage.events import store_events
from app.tasks.emails import send_email_async
from tests.helpers import DEMO_PLAN, queued_message
from tests.support.mail import SmtpSink

PUBLIC_URL = "https://lvd.example"

SENTINEL = "sentinel@example.com"


def all_delivered(flask_app: Flask, sink: SmtpSink) -> list[Message]:
    """Every mail queued so far, once the worker sent it: the worker (one process) sends in queue
    order, so when a marker mail queued now arrives, all before it have. The marker is left out."""
    with flask_app.app_context():
        send_email_async.delay([SENTINEL], "sentinel", "sentinel")
    with sink.received:
        if not sink.received.wait_for(
            lambda: any(m["To"] == SENTINEL for m in sink.messages), timeout=30
        ):
            raise AssertionError("the marker mail did not arrive")
        mails = [m for m in sink.messages if m["To"] != SENTINEL]
        sink.messages.clear()
    return mails


def owned_app(flask_app: Flask, email: str, name: str, **settings: Any) -> tuple[int, str]:
    """An app with the demo plan owned by a new account; returns (id, write key)."""
    with flask_app.app_context():
        user = accounts.sign_up(email, "a long password")
        new = create_app_record(name, DEMO_PLAN, owner_id=user.id)
        for key, value in settings.items():
            setattr(new.app, key, value)
        db.session.commit()
        return new.app.id, new.app.write_key


def store(flask_app: Flask, write_key: str, raws: Iterable[dict], at: datetime) -> None:
    """Judge and store events as the ingest path would, received at `at`."""
    messages = []
    for raw in raws:
        message = queued_message(flask_app, write_key, raw)
        message["received_at"] = at.isoformat()
        messages.append(message)
    with flask_app.app_context():
        store_events(messages)


def count(flask_app: Flask) -> None:
    """Count the stored events into the statistics, as beat's runs would: twice, since on
    PostgreSQL a run counts only up to the newest id the run before it saw."""
    with flask_app.app_context():
        aggregates.count_new_events()
        aggregates.count_new_events()


def parts(mail: Message) -> dict[str, str]:
    """A mail's text and HTML bodies by content type (SMTP's CRLF line ends as LF)."""
    return {
        part.get_content_type(): part.get_payload(decode=True).decode().replace("\r\n", "\n")
        for part in mail.walk()
        if not part.is_multipart()
    }


_TOP_LINE = re.compile(r"^ *([\d,]+)  (\S+)  (\S+)  (\S+)$", re.MULTILINE)


def listed_violations(text: str) -> list[tuple[str, str, str, int]]:
    """The (event, rule, path, count) lines of a mail's text part, in order."""
    return [
        (name, rule, path, int(n.replace(",", "")))
        for n, name, rule, path in _TOP_LINE.findall(text)
    ]


BAD_PURCHASE = {
    "eventName": "purchase",
    "price": "free",
    "currency": "EUR",
    "items": [{"sku": 5}, {"sku": 6}],
}

# 22 failing events whose violations rank clearly: two per purchase at /items/*/sku, ...
STORM = (
    [BAD_PURCHASE] * 8
    + [{"eventName": "user_login"}] * 6
    + [{"eventName": "promo_shown"}] * 4
    + [{"eventName": "screen_view"}] * 3
    + [{"eventName": "purchase", "price": 1, "currency": "eur"}]  # sixth: left out of a top 5
)

VALID = [{"eventName": "user_login", "userId": 7}]
