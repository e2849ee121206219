"""The full profile's storage path: requests put events on a Redis stream and queue one drain
task; the drain stores them in batches, takes over what a dead consumer left, stores each once."""

from __future__ import annotations

import json

import pytest
import redis
from sqlalchemy import select

from app.extensions import db
from app.models import DeadLetter, Event
from app.services import event_stream
from app.services.event_stream import DRAIN_FLAG, GROUP, STREAM, EventStream
from app.tasks.events import drain_events
from stack.servers import wait_until
from tests.conftest import add_app
from tests.helpers import (
    DEMO_PLAN,
    broker_messages,
    count_events,
    queue_length,
    queued_events,
    queued_message,
)


def _post(flask_app, write_key: str, n: int):
    return flask_app.test_client().post(
        f"/api/logs/{write_key}", json={"eventName": "user_login", "userId": n}
    )


def _redis(flask_app) -> redis.Redis:
    return redis.Redis.from_url(flask_app.config["REDIS_URL"], decode_responses=True)


def test_requests_queue_their_events_and_one_drain_task(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    answers = [_post(full_app, shop.app.write_key, n).json for n in range(5)]
    assert queue_length(full_app) == 5
    assert [e["task_id"] for e in queued_events(full_app)] == [a["task_id"] for a in answers]
    # One drain message for five requests: the flag says one is queued already.
    [drain] = broker_messages(full_app)
    assert drain["headers"]["task"] == "app.tasks.events.drain_events"
    with _redis(full_app) as client:
        assert client.exists(DRAIN_FLAG)


def test_a_batch_request_is_one_stream_entry(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    events = [{"eventName": "user_login", "userId": n} for n in range(40)]
    response = full_app.test_client().post(f"/api/logs/{shop.app.write_key}/batch", json=events)
    assert response.status_code == 202
    assert queue_length(full_app) == 1
    assert len(queued_events(full_app)) == 40


def test_drain_stores_everything_then_empties_the_stream_and_drops_its_flag(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    answers = [_post(full_app, shop.app.write_key, n).json for n in range(30)]
    with full_app.app_context():
        drain_events.apply()
    assert count_events(full_app) == 30
    for answer in answers:
        assert count_events(full_app, task_id=answer["task_id"]) == 1
    with _redis(full_app) as client:
        assert client.xlen(STREAM) == 0
        assert client.xpending(STREAM, GROUP)["pending"] == 0
        assert not client.exists(DRAIN_FLAG)  # so the next request queues a drain again


def test_entries_a_dead_consumer_left_pending_are_taken_over(full_app, monkeypatch):
    shop = add_app(full_app, plan=DEMO_PLAN)
    answer = _post(full_app, shop.app.write_key, 1).json
    with full_app.app_context(), _redis(full_app) as client:
        dead = EventStream(client, "worker-that-died")
        assert len(dead.read(10)) == 1  # read, never acknowledged
        monkeypatch.setattr(event_stream, "CLAIM_IDLE_MS", 0)
        drain_events.apply()
        assert client.xpending(STREAM, GROUP)["pending"] == 0
    assert count_events(full_app, task_id=answer["task_id"]) == 1


def test_an_entry_delivered_twice_stores_its_events_once(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    messages = [
        queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": n})
        for n in range(3)
    ]
    with _redis(full_app) as client:
        for _ in range(2):
            client.xadd(STREAM, {"e": json.dumps(messages)})
    with full_app.app_context():
        drain_events.apply()
    assert count_events(full_app) == 3


def test_the_stream_comes_back_after_redis_lost_it(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    with full_app.app_context():
        drain_events.apply()  # creates the group
    with _redis(full_app) as client:
        client.delete(STREAM)  # e.g. a Redis restarted without its data
    answer = _post(full_app, shop.app.write_key, 1).json
    with full_app.app_context():
        drain_events.apply()
    assert count_events(full_app, task_id=answer["task_id"]) == 1


@pytest.mark.usefixtures("celery_worker")
def test_a_real_worker_runs_the_drain_the_request_queued(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    answers = [_post(full_app, shop.app.write_key, n).json for n in range(20)]
    wait_until(lambda: count_events(full_app) == 20, 30, "20 rows")
    assert _stored_task_ids(full_app) == {a["task_id"] for a in answers}
    wait_until(lambda: queue_length(full_app) == 0, 30, "an empty stream")


def _stored_task_ids(flask_app) -> set[str]:
    with flask_app.app_context():
        return set(db.session.scalars(select(Event.task_id)))


def test_a_bad_event_in_a_drained_batch_is_dead_lettered_and_its_neighbours_stored(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    good = [
        queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": n})
        for n in range(3)
    ]
    bad = queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": 9})
    bad["received_at"] = "not a time"  # no retry can fix it
    with _redis(full_app) as client:
        client.xadd(STREAM, {"e": json.dumps(good[:2] + [bad])})
        client.xadd(STREAM, {"e": json.dumps(good[2:])})
    with full_app.app_context():
        drain_events.apply()
        [dead] = db.session.scalars(select(DeadLetter)).all()
    assert dead.task_id == bad["task_id"] and "not a time" in dead.error
    assert count_events(full_app) == 3
    with _redis(full_app) as client:
        assert client.xlen(STREAM) == 0
