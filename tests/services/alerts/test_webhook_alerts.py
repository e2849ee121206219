"""Alerts and digests posted to webhooks beside the mail, through a real worker (full profile:
Redis, PostgreSQL, Celery) to a local HTTP sink: a storm checked many times at once sends one
mail and one message per webhook per cooldown, with the mail's figures; a 500 is retried by the
worker; an app without an owner but with a webhook is alerted; the digest goes out once."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from kombu.exceptions import OperationalError
from sqlalchemy import select

from app.extensions import db
from app.models import TrackedApp, WebhookDelivery
from app.models.types import utcnow
from app.services import alerts
from app.services.apps import create_app_record
from app.services.webhooks import hooks
from app.tasks.alerts import check_alerts, queue_mail, send_daily_digests
from app.tasks.webhooks import queue_deliveries
from stack.servers import wait_until
from tests.helpers import DEMO_PLAN
from tests.services.alerts.helpers import (
    STORM,
    VALID,
    all_delivered,
    count,
    listed_violations,
    owned_app,
    parts,
    store,
)
from tests.services.webhooks.helpers import documented_verify

SLACK_SCHEMA = json.loads(
    (Path(__file__).parent.parent / "webhooks" / "slack_message.schema.json").read_text()
)


@pytest.fixture(scope="module")
def worker_settings() -> dict[str, str]:
    """The worker retries a failed delivery after 0.2 s (not 30)."""
    return {"WEBHOOK_RETRY_BASE_SECONDS": "0.2"}


def webhooks_of(flask_app, app_id: int, url: str) -> tuple[str, int]:
    """A json and a slack webhook of the app, both to the sink; the json one's secret."""
    with flask_app.app_context():
        app = db.session.get(TrackedApp, app_id)
        json_hook, secret = hooks.add(app, "json", url + "/json", "allow")
        hooks.add(app, "slack", url + "/slack", "allow")
        return secret, json_hook.id


def settled(flask_app, app_id: int, expected: int) -> list[WebhookDelivery]:
    """The app's deliveries once `expected` of them are delivered (the worker sends them)."""

    def rows() -> list[WebhookDelivery]:
        with flask_app.app_context():
            found = db.session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.app_id == app_id)
                .order_by(WebhookDelivery.id)
            ).all()
            for row in found:
                db.session.expunge(row)
            return found

    wait_until(
        lambda: sum(r.state == "delivered" for r in rows()) == expected, 30, "the deliveries"
    )
    return rows()


def checks_at_once(flask_app, now: datetime, times: int = 5) -> list[int]:
    """check_alerts run `times` times at once, as the task runs it (mail and webhooks)."""
    barrier = threading.Barrier(times)

    def one() -> list[int]:
        with flask_app.app_context():
            barrier.wait()
            return alerts.check_alerts(
                queue_mail, flask_app.config["PUBLIC_URL"], now, deliver=queue_deliveries
            )

    with ThreadPoolExecutor(times) as pool:
        return [
            app_id for run in [pool.submit(one) for _ in range(times)] for app_id in run.result()
        ]


def task_checks(flask_app, now: datetime, times: int = 3) -> list[int]:
    with flask_app.app_context():
        return [
            app_id
            for _ in range(times)
            for app_id in check_alerts.apply(args=(now.isoformat(),)).get(
                disable_sync_subtasks=False
            )
        ]


def test_a_storm_sends_one_mail_and_one_message_per_webhook_per_cooldown(full_app, sink, http_sink):
    app_id, write_key = owned_app(full_app, "storm@example.com", "storm")
    secret, _ = webhooks_of(full_app, app_id, http_sink.url)
    http_sink.answer(500)  # the first post fails: the worker retries it after its backoff
    start = utcnow().replace(second=0, microsecond=0)
    alerted = []
    for minute in (2, 3, 4, 5, 6):  # a storm checked 8 times a minute for five minutes
        now = start + timedelta(minutes=minute, seconds=50)
        store(full_app, write_key, STORM + VALID * 5, now - timedelta(seconds=20))
        count(full_app)
        alerted += checks_at_once(full_app, now) + task_checks(full_app, now)
        if minute == 2:
            first_at = now
    assert alerted == [app_id]

    (mail,) = all_delivered(full_app, sink)
    rows = settled(full_app, app_id, 2)
    assert len(rows) == 2 and {r.message for r in rows} == {"alert"}
    requests = http_sink.wait_for(3)  # the 500, its retry, and the Slack message
    assert sorted(r.path for r in requests) == ["/json", "/json", "/slack"]
    assert sorted(r.attempts for r in rows) == [1, 2]

    json_request = [r for r in requests if r.path == "/json"][-1]
    assert documented_verify()(secret, json_request.headers, json_request.body)
    alert = json.loads(json_request.body)["alert"]
    text = parts(mail)["text/plain"]
    # The same figures as the mail: its counts, share and top violations.
    assert f"Events in the window: {alert['total']}" in text
    assert f"invalid:   {alert['counts']['invalid']}" in text
    assert [
        (v["event_name"], v["rule"], v["path"], v["count"]) for v in alert["top_violations"]
    ] == listed_violations(text)
    assert mail["Subject"].startswith(f"[storm] {alert['failing_share']:.0%} of events failing")
    slack = json.loads(next(r for r in requests if r.path == "/slack").body)
    jsonschema.validate(slack, SLACK_SCHEMA)
    assert f"*storm*: *{alert['failing_share']:.1%}*" in slack["blocks"][1]["text"]["text"]

    # Past the cooldown, the storm goes on: one more mail, one more message each.
    now = first_at + timedelta(minutes=61)
    store(full_app, write_key, STORM, now - timedelta(seconds=20))
    count(full_app)
    assert checks_at_once(full_app, now) + task_checks(full_app, now) == [app_id]
    assert len(all_delivered(full_app, sink)) == 1
    assert len(settled(full_app, app_id, 4)) == 4
    assert len(http_sink.wait_for(5)) == 5


def test_an_app_without_an_owner_but_with_a_webhook_is_alerted(full_app, sink, http_sink):
    with full_app.app_context():
        new = create_app_record("ownerless", DEMO_PLAN)
        app_id, write_key = new.app.id, new.app.write_key
        hooks.add(new.app, "json", http_sink.url, "allow")
        bare = create_app_record("no one to tell", DEMO_PLAN)  # no owner, no webhook
        bare_key = bare.app.write_key
    now = utcnow()
    store(full_app, write_key, STORM, now - timedelta(seconds=5))
    store(full_app, bare_key, STORM, now - timedelta(seconds=5))
    count(full_app)
    assert task_checks(full_app, now) == [app_id]
    (request,) = http_sink.wait_for(1)
    assert json.loads(request.body)["app"]["name"] == "ownerless"
    assert all_delivered(full_app, sink) == []  # nobody to mail


def test_the_daily_digest_is_posted_once_beside_the_mail(full_app, sink, http_sink):
    app_id, write_key = owned_app(full_app, "digest@example.com", "digest")
    webhooks_of(full_app, app_id, http_sink.url)
    today = utcnow().date()
    yesterday = today - timedelta(days=1)
    noon = datetime.combine(yesterday, datetime.min.time()).replace(
        tzinfo=utcnow().tzinfo
    ) + timedelta(hours=12)
    store(full_app, write_key, STORM + VALID * 10, noon)
    count(full_app)
    with full_app.app_context():
        for _ in range(3):
            send_daily_digests.apply(args=(today.isoformat(),)).get(disable_sync_subtasks=False)
    (mail,) = all_delivered(full_app, sink)
    settled(full_app, app_id, 2)
    requests = http_sink.wait_for(2)
    digest = json.loads(next(r for r in requests if r.path == "/json").body)["digest"]
    assert digest["day"] == yesterday.isoformat() == date.fromisoformat(digest["day"]).isoformat()
    assert digest["total"] == 32
    assert [
        (v["event_name"], v["rule"], v["path"], v["count"]) for v in digest["top_violations"]
    ] == listed_violations(parts(mail)["text/plain"])
    jsonschema.validate(
        json.loads(next(r for r in requests if r.path == "/slack").body), SLACK_SCHEMA
    )


def test_a_mail_the_queue_refuses_takes_its_webhook_messages_back_too(
    full_app, make_app, sink, http_sink
):
    app_id, write_key = owned_app(full_app, "refused@example.com", "refused")
    webhooks_of(full_app, app_id, http_sink.url)
    now = utcnow()
    store(full_app, write_key, STORM, now - timedelta(seconds=5))
    count(full_app)
    cut_off = make_app("full", REDIS_URL="redis://127.0.0.1:1/0")  # a broker nobody listens on
    try:
        with cut_off.app_context(), pytest.raises(OperationalError):
            alerts.check_alerts(
                queue_mail, cut_off.config["PUBLIC_URL"], now, deliver=queue_deliveries
            )
    finally:  # the tasks' Celery app is the newest one made: make it the test's again
        full_app.extensions["celery"].set_current()
        full_app.extensions["celery"].set_default()
    with full_app.app_context():
        assert db.session.scalars(select(WebhookDelivery)).all() == []
    # The next run, with the broker back, alerts once: one mail, one message per webhook.
    assert task_checks(full_app, now) == [app_id]
    assert len(all_delivered(full_app, sink)) == 1
    assert len(settled(full_app, app_id, 2)) == 2
