"""Violation alerts: a storm mails its app's owner once per cooldown, through a real worker to
the SMTP sink, with the window's top violations; concurrent checkers and reruns add nothing."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from kombu.exceptions import OperationalError
from sqlalchemy import select

from app.extensions import db
from app.models import Event, TrackedApp
from app.models.types import utcnow
from app.services import alerts
from app.services.statistics.aggregates import general_path
from app.tasks.alerts import check_alerts, queue_mail
from tests.helpers import broker_messages
from tests.services.alerts.helpers import (
    PUBLIC_URL,
    STORM,
    VALID,
    all_delivered,
    count,
    listed_violations,
    owned_app,
    parts,
    store,
)


def run_checks(flask_app, now: datetime, times: int = 5) -> list[int]:
    """check_alerts run `times` times at once, each in its own thread and database session;
    the apps alerted, over all runs."""
    barrier = threading.Barrier(times)

    def one() -> list[int]:
        with flask_app.app_context():
            barrier.wait()
            return alerts.check_alerts(queue_mail, flask_app.config["PUBLIC_URL"], now)

    with ThreadPoolExecutor(times) as pool:
        runs = [pool.submit(one) for _ in range(times)]
        return [app_id for run in runs for app_id in run.result()]


def rerun(flask_app, now: datetime, times: int = 2) -> list[int]:
    """check_alerts run one after the other through the task; the apps alerted."""
    with flask_app.app_context():
        return [
            app_id
            for _ in range(times)
            for app_id in check_alerts.apply(args=(now.isoformat(),)).get(
                disable_sync_subtasks=False
            )
        ]


def direct_top(flask_app, app_id: int, start: datetime, end: datetime) -> list[tuple]:
    """The top five violations of a window, counted over its stored events."""
    with flask_app.app_context():
        rows = db.session.execute(
            select(Event.event_name, Event.violations).where(
                Event.app_id == app_id, Event.received_at >= start, Event.received_at <= end
            )
        )
        counts = Counter(
            (name, v["rule"], general_path(v["path"])) for name, vs in rows for v in vs
        )
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:5]
    return [(*key, n) for key, n in ranked]


def test_a_storm_mails_its_owner_once_per_cooldown_with_the_top_violations(full_app, sink):
    storm_id, storm_key = owned_app(full_app, "storm@example.com", "storm")
    calm_id, calm_key = owned_app(full_app, "calm@example.com", "calm")
    start = utcnow().replace(second=0, microsecond=0)
    # Each round: events half a minute before `now`, counted, then five checkers at once
    # and two more after them.
    mailed: list[int] = []
    for minute, storm, calm in (
        (0, STORM[:10], VALID * 20),  # 10 events: under the 20 an alert needs
        (2, STORM + VALID * 5, VALID * 20 + STORM[:1]),  # over the threshold
        (4, STORM, VALID * 20),
        (6, STORM, VALID * 20),
    ):
        now = start + timedelta(minutes=minute, seconds=50)
        store(full_app, storm_key, storm, now - timedelta(seconds=20))
        store(full_app, calm_key, calm, now - timedelta(seconds=20))
        count(full_app)
        mailed += run_checks(full_app, now) + rerun(full_app, now)
        if minute == 2:
            alerted_at = now
    assert mailed == [storm_id]

    (mail,) = all_delivered(full_app, sink)
    assert mail["To"] == "storm@example.com"
    assert mail["Subject"] == "[storm] 86% of events failing in the last 10 minutes"  # 32 of 37
    text, html = parts(mail)["text/plain"], parts(mail)["text/html"]
    assert "Events in the window: 37" in text
    assert "invalid:   28" in text and "unplanned: 4" in text and "valid:     5" in text
    top = listed_violations(text)
    assert top == [
        ("purchase", "type", "/properties/items/*/sku", 32),
        ("purchase", "type", "/properties/price", 16),
        ("user_login", "required", "/properties/userId", 8),
        ("promo_shown", "unplanned", "/eventName", 4),
        ("screen_view", "required", "/properties/screen_name", 3),
    ]
    window_start = alerts.window_start(10, alerted_at)
    assert top == direct_top(full_app, storm_id, window_start, alerted_at)
    link = f"{PUBLIC_URL}/apps/{storm_id}/live?status=invalid"
    assert link in text and f'href="{link}"' in html.replace("&amp;", "&")
    assert "<code>/properties/items/*/sku</code>" in html

    # Still storming within the cooldown (60 minutes): nothing.
    now = alerted_at + timedelta(minutes=40)
    store(full_app, storm_key, STORM, now - timedelta(seconds=20))
    count(full_app)
    assert run_checks(full_app, now) + rerun(full_app, now) == []
    # Past it: the next storm mails once more, with only its own window's violations.
    now = alerted_at + timedelta(minutes=61)
    store(full_app, storm_key, STORM, now - timedelta(seconds=20))
    count(full_app)
    assert run_checks(full_app, now) + rerun(full_app, now) == [storm_id]
    (second,) = all_delivered(full_app, sink)
    assert second["To"] == "storm@example.com"
    assert second["Subject"] == "[storm] 100% of events failing in the last 10 minutes"
    assert listed_violations(parts(second)["text/plain"])[:2] == [
        ("purchase", "type", "/properties/items/*/sku", 16),
        ("purchase", "type", "/properties/price", 8),
    ]
    with full_app.app_context():
        assert db.session.get(TrackedApp, storm_id).last_alert_at == now
        assert db.session.get(TrackedApp, calm_id).last_alert_at is None


def test_quiet_apps_and_apps_without_alerts_or_owner_are_not_mailed(full_app, sink):
    now = utcnow()
    few_id, few_key = owned_app(full_app, "few@example.com", "few")  # 19 events: too few
    off_id, off_key = owned_app(full_app, "off@example.com", "off", alert_threshold=None)
    high_id, high_key = owned_app(full_app, "high@example.com", "high", alert_threshold=0.9)
    store(full_app, few_key, STORM[:19], now - timedelta(seconds=5))
    store(full_app, off_key, STORM, now - timedelta(seconds=5))
    store(full_app, high_key, STORM + VALID * 3, now - timedelta(seconds=5))  # 22 of 25: 88 %
    # ... and a storm long gone: outside the 10-minute window.
    store(full_app, few_key, STORM, now - timedelta(minutes=12))
    count(full_app)
    assert rerun(full_app, now) == []
    assert all_delivered(full_app, sink) == []


def test_concurrent_checkers_on_sqlite_queue_one_mail(micro_app):
    """The claim holds on SQLite too (the micro profile): the queued mails are counted in the
    broker folder, which no worker drains here."""
    app_id, write_key = owned_app(micro_app, "micro@example.com", "micro")
    now = utcnow()
    store(micro_app, write_key, STORM, now - timedelta(seconds=5))
    count(micro_app)
    assert run_checks(micro_app, now, times=8) == [app_id]
    (message,) = broker_messages(micro_app, "emails")
    assert message["headers"]["task"] == "app.tasks.emails.send_email_async"


def test_a_mail_the_queue_refuses_gives_the_claim_back(full_app, make_app, sink):
    app_id, write_key = owned_app(full_app, "retry@example.com", "retry")
    now = utcnow()
    store(full_app, write_key, STORM, now - timedelta(seconds=5))
    count(full_app)
    # The same database, but a broker nobody listens on.
    cut_off = make_app("full", REDIS_URL="redis://127.0.0.1:1/0")
    try:
        with cut_off.app_context(), pytest.raises(OperationalError):
            alerts.check_alerts(queue_mail, cut_off.config["PUBLIC_URL"], now)
    finally:  # the tasks' Celery app is the newest one made: make it the test's again
        full_app.extensions["celery"].set_current()
        full_app.extensions["celery"].set_default()
    with full_app.app_context():
        assert db.session.get(TrackedApp, app_id).last_alert_at is None
    # The next run, with the broker back, alerts.
    assert rerun(full_app, now, times=1) == [app_id]
    (mail,) = all_delivered(full_app, sink)
    assert mail["To"] == "retry@example.com"
