"""The drain run by a real Celery worker (the module's: it lives until the module's last test,
so these tests are kept apart from those that drain in their own process, test_drain_events.py)."""

from __future__ import annotations

import json

import pytest
import redis
from sqlalchemy import select

from app.extensions import db
from app.models import DeadLetter, Event
from app.services.ingestion.event_stream import STREAM
from app.services.storage import dead_letters
from app.tasks.events import drain_events, queue_events
from stack.servers import wait_until
from tests.helpers import DEMO_PLAN, count_events, queue_length, queued_message
from tests.support.profiles import add_app


def _post(flask_app, write_key: str, n: int):
    return flask_app.test_client().post(
        f"/api/logs/{write_key}", json={"eventName": "user_login", "userId": n}
    )


def _redis(flask_app) -> redis.Redis:
    return redis.Redis.from_url(flask_app.config["REDIS_URL"], decode_responses=True)


def _stored_task_ids(flask_app) -> set[str]:
    with flask_app.app_context():
        return set(db.session.scalars(select(Event.task_id)))


@pytest.mark.usefixtures("celery_worker")
def test_a_real_worker_runs_the_drain_the_request_queued(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    answers = [_post(full_app, shop.app.write_key, n).json for n in range(20)]
    wait_until(lambda: count_events(full_app) == 20, 30, "20 rows")
    assert _stored_task_ids(full_app) == {a["task_id"] for a in answers}
    wait_until(lambda: queue_length(full_app) == 0, 30, "an empty stream")


@pytest.mark.usefixtures("celery_worker")
def test_a_quarantined_entry_replayed_fails_again_into_the_same_dead_letter(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    nul = queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": 1})
    nul["os_name"] = "x\x00"
    with _redis(full_app) as redis_client:
        redis_client.xadd(STREAM, {"e": json.dumps([nul])})
    with full_app.app_context():
        drain_events.apply()
        [dead] = db.session.scalars(select(DeadLetter)).all()
        dead_letters.replay([dead], queue_events)  # the real worker runs it

        def failed_again() -> DeadLetter | None:
            db.session.expire_all()
            row = db.session.scalars(select(DeadLetter)).one()
            return row if row.attempts == 2 and row.replayed_at is None else None

        wait_until(failed_again, 30, "the replay failing again")
        again = failed_again()
        assert again.id == dead.id
        assert again.message["escaped"] == dead.message["escaped"]  # not escaped twice
