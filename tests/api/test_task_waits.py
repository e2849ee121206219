"""`GET /api/tasks/<id>?wait=` takes a wait slot: per app and per process caps answered 429
`too_many_waits`, slots given back when a wait ends, and no database connection held while a
wait sleeps. Both profiles; no worker runs, so accepted tasks stay queued until the test stores
them the way a worker does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask

from app.extensions import db
from app.services.apps import NewApp
from app.services.storage.events import store_events
from stack.servers import wait_until
from tests.helpers import DEMO_PLAN, queued_message
from tests.support.profiles import add_app


@pytest.fixture(params=["micro", "full"])
def capped(request, make_app) -> Flask:
    """An app of each profile with small caps: 2 waits per process, 1 per app."""
    if request.param == "full":
        request.getfixturevalue("full_app")  # empty tables and Redis
    return make_app(request.param, TASK_WAITS_PER_PROCESS=2, TASK_WAITS_PER_APP=1)


def queued_task(flask_app: Flask, new: NewApp) -> dict:
    """The message of an accepted event that no worker has stored yet."""
    return queued_message(flask_app, new.app.write_key, {"eventName": "user_login", "userId": 1})


def store(flask_app: Flask, message: dict) -> None:
    """Store a queued event as the worker would: its task settles."""
    with flask_app.app_context():
        assert store_events([message]) == 1


def ask(flask_app: Flask, new: NewApp, task_id: str, wait: int):
    return flask_app.test_client().get(
        f"/api/tasks/{task_id}?wait={wait}", headers={"Authorization": f"Bearer {new.read_key}"}
    )


@contextmanager
def waiting(flask_app: Flask, new: NewApp, message: dict) -> Iterator[list]:
    """A 30 s long-poll on `message`'s task in a thread, holding its slot; on leaving, the task
    is stored, which must end the wait with `stored`."""
    slots = flask_app.extensions["wait_slots"]
    before = slots.in_use(new.app.id)
    answers: list = []
    thread = threading.Thread(
        target=lambda: answers.append(ask(flask_app, new, message["task_id"], 30))
    )
    thread.start()
    try:
        wait_until(lambda: slots.in_use(new.app.id) == before + 1, 10, "a wait holding a slot")
        yield answers
    finally:
        store(flask_app, message)
        thread.join(timeout=30)
    assert [a.status_code for a in answers] == [200]
    assert answers[0].json["state"] == "stored"


def assert_too_many_waits(response) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.json["code"] == "too_many_waits"
    assert "long-polls are already waiting" in response.json["message"]
    assert int(response.headers["Retry-After"]) >= 1


def test_one_app_waits_at_most_its_share_then_gets_429(capped):
    shop, other = add_app(capped, "shop", DEMO_PLAN), add_app(capped, "other", DEMO_PLAN)
    first, second = queued_task(capped, shop), queued_task(capped, shop)
    with waiting(capped, shop, first):
        assert_too_many_waits(ask(capped, shop, second["task_id"], 5))
        # Without waiting, and for a settled task, nothing is refused.
        assert ask(capped, shop, second["task_id"], 0).json["state"] == "queued"
        store(capped, second)
        assert ask(capped, shop, second["task_id"], 5).json["state"] == "stored"
        # Another app still has its own slot.
        with waiting(capped, other, queued_task(capped, other)):
            pass


def test_all_apps_together_wait_at_most_the_process_cap(capped):
    a, b, c = (add_app(capped, name, DEMO_PLAN) for name in ("a", "b", "c"))
    with waiting(capped, a, queued_task(capped, a)), waiting(capped, b, queued_task(capped, b)):
        assert capped.extensions["wait_slots"].in_use() == 2
        assert_too_many_waits(ask(capped, c, queued_task(capped, c)["task_id"], 5))


def test_an_ended_wait_gives_its_slot_back(capped):
    shop = add_app(capped, "shop", DEMO_PLAN)
    slots = capped.extensions["wait_slots"]
    with waiting(capped, shop, queued_task(capped, shop)):
        pass  # ended by its task being stored
    assert slots.in_use() == 0
    # Ended by its deadline, twice in a row: the one slot of the app is free each time.
    message = queued_task(capped, shop)
    for _ in range(2):
        assert ask(capped, shop, message["task_id"], 1).json["state"] == "queued"
        assert slots.in_use() == 0


def test_a_waiting_request_holds_no_database_connection_while_asleep(capped):
    shop = add_app(capped, "shop", DEMO_PLAN)
    with capped.app_context():
        pool = db.engine.pool
    with waiting(capped, shop, queued_task(capped, shop)) as answers:
        # It polls every 0.1 s with a query of a millisecond: between polls nothing is out.
        wait_until(lambda: pool.checkedout() == 0, 10, "the wait's connection back in the pool")
        assert not answers  # still waiting
