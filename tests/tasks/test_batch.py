"""The `batch_processing` queue's statistics: per minute, per hour (by app version) and
violations per hour match a direct count over the raw events after random inserts, duplicate
deliveries, reruns and recounts; beat runs the counting through a real worker; old events go."""

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Event, EventMinuteStat, EventStat, EventVersionStat, ViolationStat
from app.services.statistics import aggregates
from app.services.storage import retention
from app.services.storage.events import store_events
from app.tasks.batch import batch_process_events, count_new_events
from stack.servers import start_beat, start_worker, stop_process_group, wait_until
from tests.helpers import DEMO_PLAN, queued_message
from tests.support.profiles import add_app, full_env

NOW = datetime.now(UTC)


def _store_random_events(flask_app, write_key, count, seed):
    """Random events over the last three hours, some stored twice (a redelivered message)."""
    rng = random.Random(seed)
    messages = []
    for i in range(count):
        raw = {
            "eventName": rng.choice(["user_login", "screen_view", "purchase", "unknown"]),
            "userId": rng.choice([1, "x"]),
            "n": f"{seed}-{i}",
            "price": rng.choice([1, "free"]),
            "currency": "EUR",
            "items": [{"sku": rng.choice(["a", 5])} for _ in range(rng.randrange(3))],
            "context": {"app": {"version": rng.choice(["2.3.0", "2.3.1"])}} if i % 5 else {},
        }
        message = queued_message(flask_app, write_key, raw)
        message["received_at"] = (NOW - timedelta(minutes=rng.randrange(0, 180))).isoformat()
        messages.append(message)
    with flask_app.app_context():
        store_events(messages)
        store_events(rng.sample(messages, 10))  # duplicates must not be counted


def _direct(flask_app):
    """The statistics computed here, from every stored event."""
    minutes, hours, versions, violations = Counter(), Counter(), Counter(), Counter()
    with flask_app.app_context():
        rows = db.session.execute(
            select(
                Event.app_id,
                Event.received_at,
                Event.event_name,
                Event.status,
                Event.app_version,
                Event.violations,
            )
        ).all()
    for app_id, at, name, status, version, found in rows:
        minute = at.replace(second=0, microsecond=0)
        hour = minute.replace(minute=0)
        minutes[app_id, minute, name, status] += 1
        hours[app_id, hour, name, status] += 1
        versions[app_id, hour, name, status, version or ""] += 1
        for v in found:
            violations[
                app_id, hour, name, v["rule"], aggregates.general_path(v["path"]), version or ""
            ] += 1
    return minutes, hours, versions, violations


def _stored(flask_app):
    """The statistics as the tables hold them."""
    with flask_app.app_context():
        minutes = Counter(
            {
                (s.app_id, s.minute, s.event_name, s.status): s.count
                for s in db.session.scalars(select(EventMinuteStat))
            }
        )
        hours = Counter(
            {
                (s.app_id, s.hour, s.event_name, s.status): s.count
                for s in db.session.scalars(select(EventStat))
            }
        )
        versions = Counter(
            {
                (s.app_id, s.hour, s.event_name, s.status, s.app_version): s.count
                for s in db.session.scalars(select(EventVersionStat))
            }
        )
        violations = Counter(
            {
                (s.app_id, s.hour, s.event_name, s.rule, s.path, s.app_version): s.count
                for s in db.session.scalars(select(ViolationStat))
            }
        )
    return minutes, hours, versions, violations


def _count_all(flask_app):
    """Runs until the newest event is counted (PostgreSQL counts one run behind)."""
    with flask_app.app_context():
        for _ in range(2):
            count_new_events.apply()


def test_counts_match_a_direct_count_after_inserts_duplicates_reruns_and_recounts(any_app):
    shops = [add_app(any_app, name, plan=DEMO_PLAN) for name in ("one", "two")]
    for round_ in range(3):
        for shop in shops:
            _store_random_events(any_app, shop.app.write_key, 150, seed=round_ * 10 + shop.app.id)
        _count_all(any_app)
        expected = _direct(any_app)
        assert _stored(any_app) == expected
        with any_app.app_context():
            count_new_events.apply()  # a rerun with nothing new counts nothing
            batch_process_events.apply(args=(shops[0].app.id, 3))  # a recount on demand
        assert _stored(any_app) == expected
    minutes, _, versions, violations = expected
    assert sum(minutes.values()) == 900
    assert {(v[2], v[3], v[4]) for v in violations} >= {
        ("purchase", "type", "/properties/items/*/sku"),
        ("unknown", "unplanned", "/eventName"),
    }
    assert {k[4] for k in versions} == {"", "2.3.0", "2.3.1"}


def test_concurrent_runs_count_each_event_once(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    _store_random_events(full_app, shop.app.write_key, 300, seed=1)

    def run():
        with full_app.app_context():
            return aggregates.count_new_events()

    for _ in range(2):  # the first sees, the second counts (one run behind)
        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    _count_all(full_app)
    assert _stored(full_app) == _direct(full_app)


@pytest.mark.system  # starts a process in its own body
def test_beat_counts_new_events_through_a_real_worker(
    full_app, service_root, redis_server, postgres_server, tmp_path
):
    env = {**full_env(service_root, redis_server, postgres_server), "STATS_INTERVAL_SECONDS": "1"}
    worker = start_worker(env, tmp_path / "worker.log", "batch_processing", concurrency=1).pid
    beat = start_beat(env, tmp_path / "beat.log", tmp_path / "beat.schedule").pid
    try:
        shop = add_app(full_app, plan=DEMO_PLAN)
        for seed in (1, 2):  # inserts arriving while beat keeps counting
            _store_random_events(full_app, shop.app.write_key, 100, seed=seed)
            expected = _direct(full_app)
            wait_until(lambda e=expected: _stored(full_app) == e, 30, "beat's counts")
    finally:
        stop_process_group(beat, timeout=10)
        stop_process_group(worker, timeout=30)


def test_old_events_are_deleted_in_batches_and_their_statistics_stay(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    old = queued_message(any_app, shop.app.write_key, {"eventName": "user_login", "userId": 1})
    old["received_at"] = (NOW - timedelta(days=40)).isoformat()
    new = queued_message(any_app, shop.app.write_key, {"eventName": "user_login", "userId": 2})
    with any_app.app_context():
        store_events([old, new])
        aggregates.count_new_events()
        aggregates.count_new_events()
        deleted, remaining = retention.delete_old_events(30, max_batches=10)
        assert (deleted, remaining) == (1, False)
        assert db.session.scalars(select(Event.task_id)).all() == [new["task_id"]]
        assert db.session.scalar(select(func.sum(EventStat.count))) == 2  # history kept
