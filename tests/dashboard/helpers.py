"""Driving the dashboard's pages like a browser would: CSRF tokens from the forms, codes from
the queued e-mails."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from flask import Flask
from flask.testing import FlaskClient

from app.tasks.emails import account_mail, send_account_mail
from tests.helpers import broker_messages, message_args

PASSWORD = "correct horse battery"


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token of the form on the page at `url`."""
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def submit(client: FlaskClient, page_url: str, data: dict, action: str | None = None):
    """Post a form of the page at `page_url` (to `action`, default the same URL), with its
    token, following redirects."""
    token = csrf_token(client, page_url)
    return client.post(
        action or page_url, data={**data, "csrf_token": token}, follow_redirects=True
    )


def mailed(flask_app: Flask) -> list[dict]:
    """The e-mails queued for sending, oldest first: to, subject, text, html.

    An account mail's message holds only the address and what it is for: the mail is written
    here as its task writes it, from the account as it is now, drawing any code now (so only
    the newest call's code works)."""
    mails = []
    for envelope in broker_messages(flask_app, queue="emails"):
        args = message_args(envelope)
        if envelope["headers"]["task"] == send_account_mail.name:
            with flask_app.app_context():
                mail = account_mail(*args)
            if mail is None:
                continue
            args = list(mail)
        to, subject, text, html = (args + [None])[:4]
        mails.append({"to": to, "subject": subject, "text": text, "html": html})
    return mails


def deliver_mail(flask_app: Flask, smtp_url: str) -> int:
    """Run the queued `emails` tasks against an SMTP server, as a worker would; how many."""
    flask_app.config["SMTP_URL"] = smtp_url
    envelopes = broker_messages(flask_app, queue="emails")
    with flask_app.app_context():
        for envelope in envelopes:
            task = flask_app.extensions["celery"].tasks[envelope["headers"]["task"]]
            # An eager result never blocks; an embedded worker an earlier test ran in this
            # process (browser, micro) would make a plain .get() refuse.
            task.apply(args=message_args(envelope)).get(disable_sync_subtasks=False)
    return len(envelopes)


def last_code(flask_app: Flask, email: str) -> str:
    """A working six-digit code for `email`, from its newest queued code mail."""
    mail = [m for m in mailed(flask_app) if m["to"] == [email]][-1]
    return re.search(r"\b(\d{6})\b", mail["text"]).group(1)


def sign_up_and_verify(client: FlaskClient, flask_app: Flask, email: str) -> None:
    """A verified, logged-in account."""
    submit(client, "/signup", {"email": email, "password": PASSWORD})
    page = submit(
        client,
        f"/verify?email={email}",
        {"email": email, "code": last_code(flask_app, email)},
        action="/verify",
    )
    assert "Your e-mail address is confirmed" in page.get_data(as_text=True)


class _FormFields(HTMLParser):
    """What a browser would submit from one form: inputs, checked boxes, selected options."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.select = form_id, False, None
        self.fields: dict[str, str] = {}
        self.first_option: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        elif not self.inside or "name" not in a and tag != "option":
            return
        elif tag == "input" and a.get("type") not in ("checkbox", "submit"):
            self.fields[a["name"]] = a.get("value") or ""
        elif tag == "input" and a.get("type") == "checkbox" and "checked" in a:
            self.fields[a["name"]] = a.get("value") or "y"
        elif tag == "select":
            self.select = a["name"]
        elif tag == "option" and self.select:
            self.first_option.setdefault(self.select, a.get("value") or "")
            if "selected" in a:
                self.fields[self.select] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None


def form_fields(page: str, form_id: str) -> dict[str, str]:
    """The fields the form `form_id` on `page` would submit, as a browser fills them."""
    parser = _FormFields(form_id)
    parser.feed(page)
    return {**parser.first_option, **parser.fields}  # no option selected: the first one
