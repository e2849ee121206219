"""A run's events posted while no worker runs stay pending; a `?wait=` long-poll started then
returns once a worker started late has stored them, with the run's verdict. Full profile with a
real Celery worker process; micro with its embedded worker started late."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from flask import Flask

from app.micro import EmbeddedWorker
from stack.servers import start_worker, wait_until
from tests.helpers import DEMO_PLAN
from tests.support.profiles import add_app, full_env

RUN = "ci-42"
EVENTS = [
    {"eventName": "user_login", "userId": 1},
    {"eventName": "user_login", "userId": 2},
    {"eventName": "purchase", "price": -1, "currency": "EUR"},  # invalid
    {"eventName": "not_planned"},  # blocked
]


def wait_for_late_worker(flask_app: Flask, start: Callable[[], object]) -> dict:
    """Post the run's events, see them pending, start a long-poll, then the worker; the
    long-poll's answer."""
    shop = add_app(flask_app, plan={**DEMO_PLAN, "unplanned_events": "block"})
    client = flask_app.test_client()
    posted = client.post(
        f"/api/logs/{shop.app.write_key}/batch",
        json=EVENTS + EVENTS[:1],  # the repeated first event is a duplicate
        headers={"X-Test-Run": RUN},
    )
    assert posted.status_code == 202
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    before = client.get(f"/api/test-runs/{RUN}", headers=auth).json["settlement"]
    assert before == {
        "accepted": 3,
        "stored": 0,
        "dead_lettered": 0,
        "blocked": 1,
        "pending": 3,
        "settled": False,
    }
    answers: list = []
    waiting = threading.Thread(
        target=lambda: answers.append(client.get(f"/api/test-runs/{RUN}?wait=30", headers=auth))
    )
    waiting.start()
    slots = flask_app.extensions["wait_slots"]
    wait_until(lambda: slots.in_use(shop.app.id) == 1, 10, "the long-poll holding its slot")
    start()
    waiting.join(timeout=40)
    [answer] = answers
    assert answer.status_code == 200
    return answer.json


def assert_settled_verdict(report: dict) -> None:
    assert report["settlement"] == {
        "accepted": 3,
        "stored": 3,
        "dead_lettered": 0,
        "blocked": 1,
        "pending": 0,
        "settled": True,
    }
    assert report["counts"] == {"valid": 2, "invalid": 1, "unplanned": 0}
    assert (report["passed"], report["status"]) == (False, "FAILED")
    assert [e["event_name"] for e in report["failures"]] == ["purchase"]


@pytest.mark.system
def test_full_profile_wait_returns_once_a_late_worker_stored_the_run(
    full_app, service_root, redis_server, postgres_server, tmp_path
):
    workers = []
    env = full_env(service_root, redis_server, postgres_server)

    def start() -> None:
        workers.append(start_worker(env, tmp_path / "worker.log", concurrency=1))

    try:
        report = wait_for_late_worker(full_app, start)
    finally:
        for worker in workers:
            worker.stop()
    assert_settled_verdict(report)


def test_micro_wait_returns_once_its_late_worker_stored_the_run(micro_app):
    worker = EmbeddedWorker(micro_app.extensions["celery"])
    try:
        report = wait_for_late_worker(micro_app, worker.start)
    finally:
        worker.stop()
    assert_settled_verdict(report)
