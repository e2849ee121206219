"""The `batch_processing` queue: hourly statistics match a direct count and reruns count once."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Event, EventStat, ViolationStat
from app.services.events import store_events
from app.services.stats import general_path
from app.tasks.batch import aggregate_all_apps, batch_process_events
from stack.servers import wait_until
from tests.conftest import add_app
from tests.helpers import DEMO_PLAN, queued_message

NOW = datetime.now(UTC)


def _store_random_events(flask_app, write_key, count):
    rng = random.Random(7)
    messages = []
    for i in range(count):
        raw = {
            "eventName": rng.choice(["user_login", "screen_view", "purchase", "unknown"]),
            "userId": rng.choice([1, "x"]),
            "n": i,
            "price": rng.choice([1, "free"]),
            "currency": "EUR",
            "items": [{"sku": rng.choice(["a", 5])} for _ in range(rng.randrange(3))],
        }
        message = queued_message(flask_app, write_key, raw)
        # Spread over the last three hours.
        message["received_at"] = (NOW - timedelta(minutes=rng.randrange(0, 180))).isoformat()
        messages.append(message)
    with flask_app.app_context():
        store_events(messages)
        store_events(messages[:10])  # duplicates must not be counted


def _direct_counts(flask_app, app_id, since):
    with flask_app.app_context():
        rows = db.session.execute(
            select(Event.received_at, Event.event_name, Event.status).where(
                Event.app_id == app_id, Event.received_at >= since
            )
        )
        return Counter(
            (at.replace(minute=0, second=0, microsecond=0), name, status)
            for at, name, status in rows
        )


def _stat_counts(flask_app, app_id):
    with flask_app.app_context():
        stats = db.session.scalars(select(EventStat).where(EventStat.app_id == app_id))
        return Counter({(s.hour, s.event_name, s.status): s.count for s in stats})


def test_aggregates_match_a_direct_count_and_reruns_change_nothing(any_app):
    new = add_app(any_app, plan=DEMO_PLAN)
    _store_random_events(any_app, new.app.write_key, 300)
    window_start = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    with any_app.app_context():
        batch_process_events.apply(args=(new.app.id, 3))
    first = _stat_counts(any_app, new.app.id)
    assert first == _direct_counts(any_app, new.app.id, window_start)
    assert sum(first.values()) == 300
    with any_app.app_context():
        batch_process_events.apply(args=(new.app.id, 3))
    assert _stat_counts(any_app, new.app.id) == first


def _direct_violations(flask_app, app_id, since):
    with flask_app.app_context():
        rows = db.session.execute(
            select(Event.received_at, Event.event_name, Event.violations).where(
                Event.app_id == app_id, Event.received_at >= since
            )
        )
        return Counter(
            (
                at.replace(minute=0, second=0, microsecond=0),
                name,
                v["rule"],
                general_path(v["path"]),
            )
            for at, name, violations in rows
            for v in violations
        )


def test_violation_counts_match_a_direct_count_with_array_indices_merged(any_app):
    new = add_app(any_app, plan=DEMO_PLAN)
    _store_random_events(any_app, new.app.write_key, 300)
    window_start = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    for _ in range(2):  # a rerun counts nothing twice
        with any_app.app_context():
            batch_process_events.apply(args=(new.app.id, 3))
            stats = db.session.scalars(
                select(ViolationStat).where(ViolationStat.app_id == new.app.id)
            )
            counted = Counter({(s.hour, s.event_name, s.rule, s.path): s.count for s in stats})
        assert counted == _direct_violations(any_app, new.app.id, window_start)
    rules = {(name, rule, path) for _, name, rule, path in counted}
    assert ("purchase", "type", "/properties/items/*/sku") in rules
    assert ("unknown", "unplanned", "/eventName") in rules


def test_beat_task_fans_out_to_every_app_through_a_real_worker(full_app, celery_worker):
    apps = [add_app(full_app, name, plan=DEMO_PLAN) for name in ("one", "two")]
    for new in apps:
        _store_random_events(full_app, new.app.write_key, 20)
    with full_app.app_context():
        aggregate_all_apps.delay(3)
    for new in apps:
        wait_until(
            lambda new=new: sum(_stat_counts(full_app, new.app.id).values()) == 20,
            30,
            f"statistics of app {new.app.id}",
        )
