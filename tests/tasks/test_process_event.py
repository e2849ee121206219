"""The `default` queue's tasks: idempotent storage, with a real worker, and dead letters."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import DeadLetter, Event
from app.services.storage.events import store_events
from app.tasks.events import process_events_async
from stack.servers import wait_until
from tests.helpers import DEMO_PLAN, count_events, queued_message
from tests.support.profiles import add_app


def test_same_message_delivered_twice_to_a_real_worker_stores_one_row(full_app, celery_worker):
    new = add_app(full_app, plan=DEMO_PLAN)
    message = queued_message(full_app, new.app.write_key, {"eventName": "user_login", "userId": 7})
    sentinel = queued_message(full_app, new.app.write_key, {"eventName": "screen_view"})
    with full_app.app_context():
        # The same message, same task id, twice (as a redelivery would), then a sentinel: one
        # worker process runs them in order, so once the sentinel is stored both copies ran.
        process_events_async.apply_async(([message],))
        process_events_async.apply_async(([message],))
        process_events_async.apply_async(([sentinel],))
    wait_until(lambda: count_events(full_app, task_id=sentinel["task_id"]) == 1, 30, "sentinel")
    assert count_events(full_app, task_id=message["task_id"]) == 1
    assert count_events(full_app) == 2


def test_a_batch_message_redelivered_stores_each_event_once(full_app, celery_worker):
    new = add_app(full_app, plan=DEMO_PLAN)
    messages = [
        queued_message(full_app, new.app.write_key, {"eventName": "user_login", "userId": i})
        for i in range(50)
    ]
    with full_app.app_context():
        process_events_async.apply_async((messages,))
        process_events_async.apply_async((messages,))
    wait_until(lambda: count_events(full_app) == 50, 30, "50 rows")
    sentinel = queued_message(full_app, new.app.write_key, {"eventName": "screen_view"})
    with full_app.app_context():
        process_events_async.apply_async(([sentinel],))
    wait_until(lambda: count_events(full_app, task_id=sentinel["task_id"]) == 1, 30, "sentinel")
    assert count_events(full_app) == 51


def test_store_events_is_idempotent(any_app):
    new = add_app(any_app, plan=DEMO_PLAN)
    messages = [
        queued_message(any_app, new.app.write_key, {"eventName": "purchase", "price": i})
        for i in range(3)
    ]
    with any_app.app_context():
        assert store_events(messages) == 3
        assert store_events(messages) == 0
        assert store_events(messages[:1] + messages[:1]) == 0
    assert count_events(any_app) == 3


def test_stored_row_keeps_the_verdict_and_the_message(any_app):
    new = add_app(any_app, plan=DEMO_PLAN)
    raw = {
        "eventName": "user_login",
        "userId": "abc",
        "messageId": "m-1",
        "context": {"app": {"version": "2.3.1"}, "os": {"name": "iOS"}, "testRun": "run-9"},
    }
    message = queued_message(any_app, new.app.write_key, raw)
    with any_app.app_context():
        store_events([message])
        event = db.session.scalars(select(Event)).one()
        assert (event.status, event.message_id, event.app_version, event.os_name) == (
            "invalid",
            "m-1",
            "2.3.1",
            "iOS",
        )
        assert event.test_run == "run-9"
        assert event.payload == raw
        assert event.violations[0]["path"] == "/properties/userId"
        assert event.plan_version == 1
        assert event.received_at.tzinfo is not None


def test_an_event_that_cannot_be_stored_becomes_a_dead_letter(full_app):
    new = add_app(full_app, plan=DEMO_PLAN)
    good = queued_message(full_app, new.app.write_key, {"eventName": "screen_view"})
    bad = queued_message(full_app, new.app.write_key, {"eventName": "screen_view", "n": 1})
    bad["received_at"] = "not a time"  # a message no retry can fix
    with full_app.app_context():
        # Run in this process (apply: no broker), so the failure is deterministic.
        process_events_async.apply(args=([good, bad],))
        dead = db.session.scalars(select(DeadLetter)).one()
        assert dead.task_id == bad["task_id"]
        assert "not a time" in dead.error
        assert dead.message == bad
    assert count_events(full_app, task_id=good["task_id"]) == 1
