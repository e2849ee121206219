"""Personal data in property values through the real endpoints (docs/pii.md), on SQLite and
PostgreSQL: the app's policy (warn, fail, off) set on the app page decides the verdict at once;
and the raw values never appear in stored violations, the read API, the pages that show the
events, dead letters, the alert and digest mails or the webhook posts, while an allowed property
is shown."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from email.message import Message
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Event, TrackedApp, User
from app.models.types import utcnow
from app.services import alerts
from app.services.ingestion.event_stream import STREAM
from app.services.statistics import aggregates
from app.services.storage.dead_letters import record_dead_letter
from app.services.webhooks import hooks
from app.tasks.emails import send_email_async
from app.tasks.events import store_messages
from app.tasks.webhooks import deliver_webhook
from tests.dashboard.helpers import sign_up_and_verify, submit
from tests.helpers import queued_events
from tests.support.profiles import add_app

EMAIL = "leak.person@example.org"
PHONE = "+44 20 7946 0958"
CARD = "4242 4242 4242 4242"
IP = "203.0.113.77"
ALLOWED = "allowed.owner@example.net"  # in a property the plan marks "pii": true
RAWS = (EMAIL, PHONE, CARD, CARD.replace(" ", ""), IP)
RUN = "pii-run"
OWNER = "owner@example.com"
PLAN = {
    "events": {
        "signup": {
            "type": "object",
            "properties": {
                "contact_email": {"type": "string", "pii": True},
                "note": {"type": "string"},
                "phone": {"type": "integer"},
            },
        }
    },
    "additional_properties": "flag",
}
# Declared but not allowed (note, phone), undeclared (card, ip_address), allowed (contact).
LEAKY = {"contact_email": ALLOWED, "note": f"reach me at {EMAIL}", "phone": PHONE}
LEAKY_EXTRA = {"card": CARD, "ip_address": IP}
# Valid under the plan but for the personal data in `note`.
CLEAN_BUT_NOTE = {"contact_email": ALLOWED, "note": f"mail {EMAIL} or call {PHONE}"}


@pytest.fixture
def owned(any_app):
    """The PII app, owned by a signed-in account: (app, its NewApp, the signed-in client)."""
    new = add_app(any_app, "pii", plan=PLAN)
    client = any_app.test_client()
    sign_up_and_verify(client, any_app, OWNER)
    with any_app.app_context():
        app = db.session.get(TrackedApp, new.app.id)
        app.owner_id = db.session.scalar(select(User.id).where(User.email == OWNER))
        app.alert_threshold, app.alert_min_events = 0.0, 1
        db.session.commit()
    return new, client


def native(client, key: str, props: dict, run: str | None = None):
    headers = {"X-Test-Run": run} if run else {}
    response = client.post(
        f"/api/logs/{key}",
        json={"eventName": "signup", "messageId": str(uuid.uuid4()), **props},
        headers=headers,
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.json


def sdk_batch(client, key: str, props: dict, run: str | None = None):
    headers = {"X-Test-Run": run} if run else {}
    message = {"type": "track", "event": "signup", "userId": "u1", "properties": props}
    message["messageId"] = str(uuid.uuid4())  # each send is a new event, never a duplicate
    headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    response = client.post("/v1/batch", json={"batch": [message]}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    [result] = response.json["results"]
    return result


def set_policy(client, app_id: int, policy: str) -> None:
    page = submit(client, f"/apps/{app_id}", {"policy": policy}, action=f"/apps/{app_id}/pii")
    assert "PII policy saved." in page.get_data(as_text=True)


def verdicts(client, key: str, props: dict) -> list[tuple[str, list]]:
    """(status, [(rule, severity, kind)]) of the same properties sent natively and as an SDK
    batch: both formats judge alike."""
    one = native(client, key, props)
    batch = sdk_batch(client, key, props)
    seen = []
    for status, errors in ((one["status"], one["errors"]), (batch["status"], batch["errors"])):
        seen.append((status, [(e["rule"], e.get("severity"), e.get("kind")) for e in errors]))
    return seen


def test_the_policy_set_on_the_app_page_decides_at_once(any_app, owned):
    new, client = owned
    key, app_id = new.app.write_key, new.app.id
    findings = [("pii", "warning", "email")]  # one per value, named after its first match
    assert verdicts(client, key, CLEAN_BUT_NOTE) == [("valid", findings)] * 2  # warn: default
    set_policy(client, app_id, "fail")
    failing = [("pii", "error", "email")]
    assert verdicts(client, key, CLEAN_BUT_NOTE) == [("invalid", failing)] * 2
    set_policy(client, app_id, "off")
    assert verdicts(client, key, CLEAN_BUT_NOTE) == [("valid", [])] * 2
    answer = native(client, key, {"contact_email": ALLOWED})
    assert (answer["status"], answer["errors"]) == ("valid", [])


def test_an_unknown_policy_is_refused_by_the_form(any_app, owned):
    new, client = owned
    page = submit(
        client, f"/apps/{new.app.id}", {"policy": "loud"}, action=f"/apps/{new.app.id}/pii"
    )
    assert "PII policy not saved" in page.get_data(as_text=True)
    with any_app.app_context():
        assert db.session.get(TrackedApp, new.app.id).pii_policy == "warn"


def drain(flask_app: Flask) -> list[dict]:
    """Store every queued event with the worker's code; the messages stored."""
    messages = queued_events(flask_app)
    with flask_app.app_context():
        store_messages(messages)
        db.session.remove()
    if flask_app.config["REDIS_URL"]:
        with redis.Redis.from_url(flask_app.config["REDIS_URL"]) as client:
            client.delete(STREAM)
    else:
        for path in (Path(flask_app.config["DATA_DIR"]) / "broker").glob("*.default.msg"):
            path.unlink()
    return messages


def assert_no_raw(text: str, where: str) -> None:
    for raw in RAWS:
        assert raw not in text, f"{raw!r} shown in {where}"


def mail_text(mail: Message) -> str:
    """Every part of a mail, decoded (quoted-printable or base64 would hide a raw value)."""
    parts = [mail.get("Subject", "")]
    for part in mail.walk():
        if part.get_content_maintype() == "text":
            parts.append(
                part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
            )
    return "\n".join(parts)


def test_the_raw_value_never_appears_in_stored_violations_pages_mails_or_webhooks(
    any_app, owned, smtp_sink, http_sink
):
    new, client = owned
    key, app_id = new.app.write_key, new.app.id
    both = {**LEAKY, **LEAKY_EXTRA}
    # A native event's userId is a property; its column is shown masked too.
    assert native(client, key, {**both, "userId": EMAIL}, RUN)["status"] == "invalid"
    assert sdk_batch(client, key, both, RUN)["status"] == "invalid"
    answer = native(client, key, CLEAN_BUT_NOTE, RUN)
    assert answer["status"] == "valid" and answer["errors"][0]["rule"] == "pii"
    assert_no_raw(json.dumps(answer, ensure_ascii=False), "the 202 answer")
    messages = drain(any_app)
    assert len(messages) == 3

    # Stored: the violations column holds masks only; the payload keeps the raw values.
    with any_app.app_context():
        rows = db.session.execute(
            select(Event.violations, Event.payload).where(Event.app_id == app_id)
        ).all()
        db.session.remove()
    stored = json.dumps([r.violations for r in rows], ensure_ascii=False)
    assert_no_raw(stored, "stored violations")
    assert stored.count('"rule": "pii"') == 5 + 4 + 1  # + userId; note, phone, card, ip; note
    assert EMAIL in json.dumps([r.payload for r in rows])  # kept raw, for re-validation

    # The read API.
    read = client.get(
        f"/api/apps/{app_id}/events", headers={"Authorization": f"Bearer {new.read_key}"}
    )
    assert read.status_code == 200
    assert_no_raw(read.get_data(as_text=True), "the read API")
    assert_no_raw(json.dumps(read.json, ensure_ascii=False), "the read API")
    assert ALLOWED in json.dumps(read.json) and "l•••@e•••.org" in json.dumps(
        read.json, ensure_ascii=False
    )

    # The pages that show these events: the live page's data, the run, the overview.
    with any_app.app_context():
        for _ in range(2):  # PostgreSQL counts up to what the previous run saw
            aggregates.count_new_events()
        db.session.remove()
    pages = {
        "live": f"/apps/{app_id}/live",
        "live events": f"/apps/{app_id}/events.json",
        "test run": f"/apps/{app_id}/test-runs/{RUN}",
        "overview": f"/apps/{app_id}/overview?window=3h",
    }
    shown = {}
    for name, url in pages.items():
        page = client.get(url)
        assert page.status_code == 200, (name, page.status_code)
        shown[name] = page.get_data(as_text=True)
        assert_no_raw(shown[name], name)
        assert_no_raw(json.dumps(page.json, ensure_ascii=False) if page.is_json else "", name)
    assert ALLOWED in shown["live events"] and ALLOWED in shown["test run"]
    assert "PII findings" in shown["test run"] and "10 in 3 events" in shown["test run"]
    assert 'id="pii-findings"' in shown["overview"] and "<strong>10</strong>" in shown["overview"]
    report = client.get(
        f"/api/test-runs?name={RUN}", headers={"Authorization": f"Bearer {new.read_key}"}
    )
    assert report.json["pii"] == {"findings": 10, "events": 3}
    assert_no_raw(json.dumps(report.json, ensure_ascii=False), "the run report")

    # A dead letter of one of these messages, its error quoting the row it was refused with.
    with any_app.app_context():
        record_dead_letter(
            "t-pii", "store", messages[0], f"refused: Failing row contains ({EMAIL}, {IP})"
        )
        db.session.commit()
        db.session.remove()
    dead_pages = [f"/apps/{app_id}/dead-letters", f"/apps/{app_id}/dead-letters/1"]
    for url in dead_pages:
        page = client.get(url)
        assert page.status_code == 200, url
        assert_no_raw(page.get_data(as_text=True), url)
    dead_api = client.get(
        f"/api/apps/{app_id}/dead-letters", headers={"Authorization": f"Bearer {new.read_key}"}
    )
    assert dead_api.status_code == 200
    assert_no_raw(json.dumps(dead_api.json, ensure_ascii=False), "the dead-letter API")
    assert ALLOWED in json.dumps(dead_api.json)

    # The alert and the digest, sent by the mail task to a real SMTP server.
    any_app.config["SMTP_URL"] = smtp_sink.url

    def send(mail: alerts.Mail) -> None:
        args = (mail.to, mail.subject, mail.text, mail.html)
        send_email_async.apply(args=args).get(disable_sync_subtasks=False)

    # ... and posted, under the same claim, to a JSON and a Slack webhook (a local receiver).
    def deliver(ids: list[int]) -> None:
        for delivery_id in ids:
            result = deliver_webhook.apply(args=(delivery_id,))
            assert result.get(disable_sync_subtasks=False) == "delivered"

    with any_app.app_context():
        app = db.session.get(TrackedApp, app_id)
        for kind in ("json", "slack"):
            hooks.add(app, kind, f"{http_sink.url}/{kind}", "allow")
        now = utcnow()
        assert alerts.check_alerts(send, "https://lvd.example", now, deliver) == [app_id]
        tomorrow = (now + timedelta(days=1)).date()
        assert alerts.send_daily_digests(send, "https://lvd.example", tomorrow, deliver) == [app_id]
        db.session.remove()
    posted = {(r.path, json.loads(r.body).get("type", "slack")): r.body for r in http_sink.requests}
    assert (
        set(posted)
        == {
            ("/json", "alert"),
            ("/json", "digest"),
            ("/slack", "slack"),
        }
        and len(http_sink.requests) == 4
    )  # two Slack messages: the alert and the digest
    for request in http_sink.requests:
        body = request.body.decode()
        assert_no_raw(body, f"the webhook post to {request.path}")
        assert_no_raw(json.dumps(json.loads(body), ensure_ascii=False), request.path)
    assert json.loads(posted[("/json", "alert")])["alert"]["pii_findings"] == 10
    assert json.loads(posted[("/json", "digest")])["digest"]["pii_findings"] == 10
    mails = {m["Subject"]: mail_text(m) for m in smtp_sink.messages if m["To"] == OWNER}
    alert = next(t for s, t in mails.items() if "failing in the last" in s)
    digest = next(t for s, t in mails.items() if "events," in s and "failing" in s)
    for name, text in (("alert", alert), ("digest", digest)):
        assert_no_raw(text, f"the {name} mail")
        assert "Personal data: 10 pii findings" in text or "pii findings (personal data)" in text
    assert "Personal data: 10 pii findings in the window" in alert
    assert "Personal data: 10 pii findings that day" in digest
