"""`GET /api/apps/<id>/jobs/<job>?wait=S` long-polls: it answers once the job is finished (the
job run here, in this process, while the request waits), answers the unfinished job when S
passes, holds no database connection while asleep, and shares the task waits' slots (429
`too_many_waits` when none is free). No worker runs: a started job stays queued until the test
runs it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask

from app.extensions import db
from app.models import TrackedApp
from app.services.jobs import revalidation
from stack.servers import wait_until
from tests.helpers import assert_error
from tests.services.jobs.helpers import raw_event, run_to_the_end, shop_with_draft, store_raw_events


@pytest.fixture
def capped(make_app) -> Flask:
    """A micro app with one wait slot per app."""
    return make_app("micro", TASK_WAITS_PER_PROCESS=2, TASK_WAITS_PER_APP=1)


def started_job(flask_app: Flask) -> tuple[int, int, str]:
    """An app with stored events and a queued re-validation of its draft: (app, job, read key)."""
    app_id, write_key, read_key = shop_with_draft(flask_app)
    store_raw_events(flask_app, write_key, [raw_event(i) for i in range(60)])
    with flask_app.app_context():
        job_id = revalidation.create(db.session.get(TrackedApp, app_id), {"plan_version": 2}).id
        db.session.remove()
    return app_id, job_id, read_key


def ask(flask_app: Flask, app_id: int, job_id: int, read_key: str, wait: int | str):
    return flask_app.test_client().get(
        f"/api/apps/{app_id}/jobs/{job_id}?wait={wait}",
        headers={"Authorization": f"Bearer {read_key}"},
    )


@contextmanager
def waiting(flask_app: Flask, app_id: int, job_id: int, read_key: str) -> Iterator[list]:
    """A 30 s long-poll on the job in a thread, once it holds its slot."""
    slots = flask_app.extensions["wait_slots"]
    answers: list = []
    thread = threading.Thread(
        target=lambda: answers.append(ask(flask_app, app_id, job_id, read_key, 30))
    )
    thread.start()
    try:
        wait_until(lambda: slots.in_use(app_id) == 1, 10, "a wait holding a slot")
        yield answers
    finally:
        thread.join(timeout=40)


def test_a_wait_answers_when_the_job_finishes(capped):
    app_id, job_id, read_key = started_job(capped)
    with capped.app_context():
        pool = db.engine.pool
    with waiting(capped, app_id, job_id, read_key) as answers:
        # Between its looks at the job, the wait holds no connection of the shared pool.
        wait_until(lambda: pool.checkedout() == 0, 10, "the wait's connection back in the pool")
        assert not answers  # still waiting: the job is queued
        finished = run_to_the_end(capped, job_id)
        wait_until(lambda: answers, 10, "the wait's answer")
    assert finished["state"] == "done"
    [answer] = answers
    assert answer.status_code == 200, answer.json
    assert answer.json["state"] == "done" and answer.json["done"] == 60
    assert answer.json["result"] == finished["result"] and answer.json["result"]["by_event"]
    assert capped.extensions["wait_slots"].in_use() == 0


def test_a_wait_that_times_out_answers_the_unfinished_job(capped):
    app_id, job_id, read_key = started_job(capped)
    answer = ask(capped, app_id, job_id, read_key, 1)
    assert answer.status_code == 200 and answer.json["state"] == "queued"
    assert answer.json["id"] == job_id and answer.json["done"] == 0
    assert capped.extensions["wait_slots"].in_use() == 0
    # A finished job is answered at once, with no slot to wait in: the app's one is taken.
    with capped.app_context():
        other = revalidation.create(db.session.get(TrackedApp, app_id), {"plan_version": 1}).id
        db.session.remove()
    run_to_the_end(capped, job_id)
    with waiting(capped, app_id, other, read_key) as answers:
        assert ask(capped, app_id, job_id, read_key, 30).json["state"] == "done"
        run_to_the_end(capped, other)
    assert [a.json["state"] for a in answers] == ["done"]


def test_no_free_slot_is_429_and_bad_waits_are_400(capped):
    app_id, job_id, read_key = started_job(capped)
    with waiting(capped, app_id, job_id, read_key) as answers:
        refused = ask(capped, app_id, job_id, read_key, 5)
        assert_error(refused, 429, "too_many_waits")
        assert int(refused.headers["Retry-After"]) >= 1
        assert ask(capped, app_id, job_id, read_key, 0).json["state"] == "queued"
        run_to_the_end(capped, job_id)
    assert [a.json["state"] for a in answers] == ["done"]
    for wait in ("-1", "31", "soon"):
        assert_error(ask(capped, app_id, job_id, read_key, wait), 400, "invalid_parameter")
    assert_error(ask(capped, app_id, job_id + 1, read_key, 1), 404, "not_found")
