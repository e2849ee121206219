"""Helpers of the operations tests: an owner logged in with an app, and dead letters."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import DeadLetter
from app.services.accounts.users import find_user, sign_up, verify_email_now
from app.services.apps import NewApp, create_app_record
from app.services.storage.dead_letters import record_dead_letter
from app.tasks.events import TASK_NAME
from tests.dashboard.helpers import PASSWORD, submit
from tests.helpers import DEMO_PLAN, queued_message


def owner_with_app(flask_app: Flask, email: str, name: str) -> tuple[FlaskClient, NewApp]:
    """A verified user logged in through the login form, and a new app of theirs (with the
    demo plan). The account is made directly: a running worker would take the sign-up mail
    with its code off the queue before a test could read it."""
    with flask_app.app_context():
        verify_email_now(sign_up(email, PASSWORD))
        new = create_app_record(name, DEMO_PLAN, owner_id=find_user(email).id)
        new.app.id  # load before the session closes  # noqa: B018
        db.session.remove()
    client = flask_app.test_client()
    page = submit(client, "/login", {"email": email, "password": PASSWORD})
    assert email in page.get_data(as_text=True)  # the header names who is logged in
    return client, new


def dead_letter(
    flask_app: Flask, new: NewApp, raw: dict[str, Any], error: str = "boom"
) -> tuple[int, dict[str, Any]]:
    """A dead letter of an event accepted for `new` (as if the database refused it): its id
    and message."""
    message = queued_message(flask_app, new.app.write_key, raw)
    with flask_app.app_context():
        record_dead_letter(message["task_id"], TASK_NAME, message, error)
        dead_id = db.session.scalar(
            select(DeadLetter.id).where(DeadLetter.task_id == message["task_id"])
        )
        db.session.remove()
    return dead_id, message
