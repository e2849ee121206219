"""A test run's settlement (accepted at admission, stored, dead-lettered, blocked, pending) and
`?wait=` on the run routes, in both profiles. No worker runs: events stay queued until the test
stores them with the worker's own code (store_messages), so pending is seen before it drains.
(A real worker started late: tests/tasks/test_run_wait_worker.py.)"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import TrackedApp, User
from app.services.apps import NewApp
from app.services.ingestion.event_stream import STREAM
from app.tasks.events import TASK_NAME, store_messages
from stack.servers import wait_until
from tests.dashboard.helpers import sign_up_and_verify
from tests.helpers import (
    DEMO_PLAN,
    assert_documented,
    assert_error,
    broker_messages,
    message_args,
    queued_events,
)
from tests.services.jobs.helpers import run_to_the_end
from tests.support.profiles import add_app

BLOCKING_PLAN = {**DEMO_PLAN, "unplanned_events": "block"}
RUN = "build 7/a b"  # any string a run can have travels in ?name=


def send(flask_app: Flask, new: NewApp, events: list[dict], run: str | None = RUN) -> dict:
    headers = {"X-Test-Run": run} if run else {}
    answer = flask_app.test_client().post(
        f"/api/logs/{new.app.write_key}/batch", json=events, headers=headers
    )
    assert answer.status_code == 202, answer.get_data(as_text=True)
    return answer.json


def report(flask_app: Flask, new: NewApp, run: str = RUN, wait: int | None = None):
    query = f"?name={quote(run, safe='')}" + (f"&wait={wait}" if wait is not None else "")
    return flask_app.test_client().get(
        f"/api/test-runs{query}", headers={"Authorization": f"Bearer {new.read_key}"}
    )


def settlement(flask_app: Flask, new: NewApp, run: str = RUN) -> dict:
    answer = report(flask_app, new, run)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.json["settlement"]


def drain(flask_app: Flask) -> None:
    """Store every queued event (and replay) as a worker does."""
    messages = queued_events(flask_app)
    if flask_app.config["REDIS_URL"]:  # replays travel as Celery messages beside the stream
        for envelope in broker_messages(flask_app):
            if envelope["headers"]["task"] == TASK_NAME:
                messages += message_args(envelope)[0]
    with flask_app.app_context():
        store_messages(messages)
        db.session.remove()
    clear_queue(flask_app)


def clear_queue(flask_app: Flask) -> None:
    if flask_app.config["REDIS_URL"]:
        with redis.Redis.from_url(flask_app.config["REDIS_URL"]) as client:
            client.delete(STREAM, "default")
    else:
        for path in (Path(flask_app.config["DATA_DIR"]) / "broker").glob("*.default.msg"):
            path.unlink()


LOGIN = {"eventName": "user_login", "userId": 1, "messageId": "a"}
BROKEN = {"eventName": "purchase", "price": -1, "messageId": "b"}


def test_accepted_duplicates_and_blocked_are_counted_until_stored(any_app):
    shop = add_app(any_app, plan=BLOCKING_PLAN)
    answer = send(any_app, shop, [LOGIN, BROKEN, LOGIN, {"eventName": "not_planned"}])
    assert [r["status"] for r in answer["results"]] == ["valid", "invalid", "duplicate"] + [
        "unplanned"
    ]
    send(any_app, shop, [LOGIN])  # a retry of the whole request: a duplicate, not counted
    send(any_app, shop, [{**LOGIN, "messageId": "other run"}], run=None)  # no run
    # Nothing stored yet: the run is known from its counts, 200 with zero stored.
    answer = report(any_app, shop)
    assert answer.status_code == 200
    assert answer.json["total"] == 0 and answer.json["first_at"] is None
    assert_documented(any_app, "TestRunReport", answer.json)
    assert answer.json["settlement"] == {
        "accepted": 2,
        "stored": 0,
        "dead_lettered": 0,
        "blocked": 1,
        "pending": 2,
        "settled": False,
    }
    drain(any_app)
    answer = report(any_app, shop).json
    assert answer["settlement"] == {
        "accepted": 2,
        "stored": 2,
        "dead_lettered": 0,
        "blocked": 1,
        "pending": 0,
        "settled": True,
    }
    assert answer["counts"]["valid"] == 1 and answer["counts"]["invalid"] == 1
    assert answer["status"] == "FAILED"
    assert_documented(any_app, "TestRunReport", answer)


def test_a_blocked_event_alone_fails_the_run(any_app):
    shop = add_app(any_app, plan=BLOCKING_PLAN)
    send(any_app, shop, [{"eventName": "not_planned"}, LOGIN])
    # The run's page says what the API says to its owner, before and after storage.
    browser = any_app.test_client()
    sign_up_and_verify(browser, any_app, "owner@example.com")
    with any_app.app_context():
        user = db.session.scalars(select(User).where(User.email == "owner@example.com")).one()
        db.session.get(TrackedApp, shop.app.id).owner_id = user.id
        db.session.commit()
    page_url = f"/apps/{shop.app.id}/test-runs/report?name={quote(RUN, safe='')}"
    page = browser.get(page_url).get_data(as_text=True)
    assert "Not settled yet: 1 of 1 accepted events are still on their way" in page
    drain(any_app)
    answer = report(any_app, shop).json
    assert answer["counts"]["unplanned"] == 0 and answer["counts"]["valid"] == 1
    assert answer["settlement"]["blocked"] == 1 and answer["settlement"]["settled"] is True
    assert (answer["passed"], answer["status"]) == (False, "FAILED")
    page = browser.get(page_url).get_data(as_text=True)
    assert 'id="verdict">\n  FAILED' in page
    assert "Settled: every event accepted for this run (1) is stored." in page
    assert "<strong>1 event was blocked</strong>" in page


def test_each_event_counts_for_its_own_run(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    events = [
        {**LOGIN, "context": {"testRun": "a"}},
        {**LOGIN, "userId": 2, "messageId": "2", "context": {"testRun": "b"}},
        {**LOGIN, "userId": 3, "messageId": "3"},  # the header's run
    ]
    send(any_app, shop, events, run="c")
    assert [settlement(any_app, shop, run)["accepted"] for run in "abc"] == [1, 1, 1]


def test_a_batch_large_enough_to_wait_compressed_counts_its_runs_alike(any_app):
    shop = add_app(any_app, plan=BLOCKING_PLAN)
    events = [
        {**LOGIN, "userId": n, "messageId": f"m{n}", "context": {"testRun": "abc"[n % 3]}}
        for n in range(30)
    ]
    unplanned = {"eventName": "not_planned", "context": {"testRun": "a"}}
    send(any_app, shop, [*events, unplanned])
    send(any_app, shop, [*events[:6], *events[24:], unplanned])  # duplicates, and blocked again
    if any_app.config["REDIS_URL"]:
        with redis.Redis.from_url(any_app.config["REDIS_URL"]) as client:
            assert [set(fields) for _, fields in client.xrange(STREAM)] == [{b"z"}]
    assert [settlement(any_app, shop, run)["accepted"] for run in "abc"] == [10, 10, 10]
    assert settlement(any_app, shop, "a")["blocked"] == 2
    drain(any_app)
    assert [settlement(any_app, shop, run)["stored"] for run in "abc"] == [10, 10, 10]


def test_a_run_nobody_sent_is_404(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    send(any_app, shop, [LOGIN], run=None)
    assert_error(report(any_app, shop, "never sent"), 404, "not_found")
    assert_error(report(any_app, shop, "never sent", wait=5), 404, "not_found")


def test_runs_without_events_of_a_run_write_no_run_counts(full_app):
    shop = add_app(full_app, plan=BLOCKING_PLAN)
    send(full_app, shop, [LOGIN, {"eventName": "not_planned"}], run=None)
    with redis.Redis.from_url(full_app.config["REDIS_URL"]) as client:
        assert client.keys("lvd:run:*") == []
        send(full_app, shop, [LOGIN])
        [key] = client.keys("lvd:run:*")
        assert client.hgetall(key) == {b"accepted": b"1"}
        ttl = client.ttl(key)
    assert full_app.config["TEST_RUN_COUNTS_SECONDS"] - 5 < ttl <= 7 * 24 * 3600


def test_a_dead_lettered_event_settles_until_it_is_replayed(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    send(any_app, shop, [LOGIN, BROKEN])
    [good, bad] = queued_events(any_app)
    clear_queue(any_app)
    poison = {**bad, "payload": "not an object"}  # what no worker can store
    with any_app.app_context():
        store_messages([good, poison])  # the worker's code: stores one, dead-letters one
        db.session.remove()
    assert settlement(any_app, shop) == {
        "accepted": 2,
        "stored": 1,
        "dead_lettered": 1,
        "blocked": 0,
        "pending": 0,
        "settled": True,
    }
    # Replayed: queued again, so pending until it is stored or dead-lettered again.
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    replayed = any_app.test_client().post(
        f"/api/apps/{shop.app.id}/dead-letters/replay", headers=auth
    )
    assert replayed.json["replayed"] == 1
    after_replay = settlement(any_app, shop)
    assert (after_replay["dead_lettered"], after_replay["pending"]) == (0, 1)
    drain(any_app)  # fails again: a dead letter once more
    again = settlement(any_app, shop)
    assert (again["dead_lettered"], again["pending"], again["settled"]) == (1, 0, True)


def test_wait_returns_once_the_run_settles(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    send(any_app, shop, [LOGIN, BROKEN])
    slots = any_app.extensions["wait_slots"]
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(report(any_app, shop, wait=30)))
    started = time.monotonic()
    thread.start()
    wait_until(lambda: slots.in_use(shop.app.id) == 1, 10, "the wait holding a slot")
    with any_app.app_context():
        pool = db.engine.pool
    # It polls every 0.1 s with queries of a millisecond: between polls nothing is out.
    wait_until(lambda: pool.checkedout() == 0, 10, "the wait's connection back in the pool")
    assert not answers
    drain(any_app)
    thread.join(timeout=30)
    assert time.monotonic() - started < 20  # ended by settling, not by its deadline
    [answer] = answers
    assert answer.status_code == 200
    assert answer.json["settlement"]["settled"] is True
    assert answer.json["settlement"]["stored"] == answer.json["settlement"]["accepted"] == 2
    assert answer.json["status"] == "FAILED" and answer.json["counts"]["invalid"] == 1
    assert slots.in_use() == 0


def test_wait_gives_up_after_its_seconds_unsettled(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    send(any_app, shop, [LOGIN])
    started = time.monotonic()
    answer = report(any_app, shop, wait=1)
    assert time.monotonic() - started >= 1
    assert answer.status_code == 200
    assert answer.json["settlement"]["settled"] is False
    assert answer.json["settlement"]["pending"] == 1
    # Beyond the cap, or not a number: a 400, as for the task wait.
    assert_error(report(any_app, shop, wait=31), 400, "invalid_parameter")


@pytest.fixture(params=["micro", "full"])
def one_slot(request, make_app) -> Flask:
    """An app of each profile with one wait per app."""
    if request.param == "full":
        request.getfixturevalue("full_app")  # empty tables and Redis
    return make_app(request.param, TASK_WAITS_PER_PROCESS=4, TASK_WAITS_PER_APP=1)


def test_a_second_wait_of_one_app_is_429_while_its_slot_is_held(one_slot):
    shop = add_app(one_slot, plan=DEMO_PLAN)
    send(one_slot, shop, [LOGIN], run="done")
    drain(one_slot)
    send(one_slot, shop, [LOGIN])
    slots = one_slot.extensions["wait_slots"]
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(report(one_slot, shop, wait=30)))
    thread.start()
    try:
        wait_until(lambda: slots.in_use(shop.app.id) == 1, 10, "the wait holding a slot")
        refused = report(one_slot, shop, wait=5)
        assert_error(refused, 429, "too_many_waits")
        assert int(refused.headers["Retry-After"]) >= 1
        assert report(one_slot, shop).status_code == 200  # without ?wait= nothing is refused
        # A run already settled is answered at once, though the app's one slot is taken.
        answer = report(one_slot, shop, "done", wait=5)
        assert answer.status_code == 200 and answer.json["settlement"]["settled"] is True
    finally:
        drain(one_slot)
        thread.join(timeout=30)
    assert [a.json["settlement"]["settled"] for a in answers] == [True]


def test_imported_events_of_a_run_count_as_accepted_and_stored(any_app):
    shop = add_app(any_app, plan=BLOCKING_PLAN)
    send(any_app, shop, [LOGIN])  # live, still queued
    lines = [
        {**LOGIN, "context": {"testRun": RUN}},  # the live event again: a duplicate
        {**LOGIN, "userId": 2, "messageId": "imported", "context": {"testRun": RUN}},
        {"eventName": "not_planned", "context": {"testRun": RUN}},  # blocked
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    created = any_app.test_client().post(
        f"/api/apps/{shop.app.id}/jobs",
        data=data,
        content_type="application/x-ndjson",
        headers={"Authorization": f"Bearer {shop.read_key}"},
    )
    assert created.status_code == 201, created.json
    result = run_to_the_end(any_app, created.json["id"])["result"]
    assert result["stored"] == 1 and result["counts"]["duplicate"] == 1
    # The imported event is stored and counted; the live one is still pending.
    assert settlement(any_app, shop) == {
        "accepted": 2,
        "stored": 1,
        "dead_lettered": 0,
        "blocked": 1,
        "pending": 1,
        "settled": False,
    }
    drain(any_app)
    assert settlement(any_app, shop)["settled"] is True


def test_micro_uncounts_a_request_its_broker_could_not_take(micro_app):
    shop = add_app(micro_app, plan=BLOCKING_PLAN)
    # Where the broker writes each message first: a file there fails every write, even as root.
    broker = Path(micro_app.config["DATA_DIR"]) / "broker" / "tmp"
    shutil.rmtree(broker)
    broker.write_text("not a folder")
    refused = micro_app.test_client().post(
        f"/api/logs/{shop.app.write_key}/batch",
        json=[LOGIN, {"eventName": "not_planned"}],
        headers={"X-Test-Run": RUN},
    )
    assert_error(refused, 503, "unavailable")
    assert_error(report(micro_app, shop), 404, "not_found")  # nothing of it was accepted
    broker.unlink()
    broker.mkdir()
    send(micro_app, shop, [LOGIN])  # the retry: accepted, not a duplicate
    assert settlement(micro_app, shop)["accepted"] == 1
