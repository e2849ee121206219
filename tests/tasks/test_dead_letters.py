"""Dead letters: kept with error and payload, listed and replayed by API and command line;
a replay stores the event once, however often it is replayed."""

from __future__ import annotations

import json

from sqlalchemy import delete, select

from app.extensions import db
from app.models import DeadLetter, TrackedApp
from app.services.storage.dead_letters import record_dead_letter
from app.tasks.events import process_events_async
from stack.servers import wait_until
from tests.helpers import DEMO_PLAN, count_events, queued_message
from tests.support.profiles import add_app


def _dead_letters(flask_app) -> list[DeadLetter]:
    with flask_app.app_context():
        rows = list(db.session.scalars(select(DeadLetter).order_by(DeadLetter.id)))
        db.session.remove()
        return rows


def test_a_poison_message_is_dead_lettered_by_a_real_worker(full_app, celery_worker):
    doomed = add_app(full_app, "doomed", plan=DEMO_PLAN)
    poison = queued_message(
        full_app, doomed.app.write_key, {"eventName": "user_login", "userId": 1}
    )
    with full_app.app_context():
        # Accepted, then its app deleted before a worker stored it: it can never be stored.
        db.session.execute(delete(TrackedApp).where(TrackedApp.id == doomed.app.id))
        db.session.commit()
        process_events_async.apply_async(([poison],))
    wait_until(lambda: len(_dead_letters(full_app)) == 1, 30, "the dead letter")
    [dead] = _dead_letters(full_app)
    assert dead.task_id == poison["task_id"] and dead.message == poison
    assert "ForeignKeyViolation" in dead.error or "foreign key" in dead.error.lower()
    assert count_events(full_app) == 0


def test_dead_letters_are_listed_and_replayed_through_the_api(full_app, celery_worker):
    shop = add_app(full_app, plan=DEMO_PLAN)
    messages = [
        queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": i})
        for i in range(3)
    ]
    with full_app.app_context():
        for message in messages:  # as if the database had refused them once
            record_dead_letter(
                message["task_id"], "app.tasks.events.process_events_async", message, "boom"
            )
    client = full_app.test_client()
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    listed = client.get(f"/api/apps/{shop.app.id}/dead-letters", headers=auth).json
    assert [d["task_id"] for d in listed["dead_letters"]] == [
        m["task_id"] for m in reversed(messages)
    ]
    assert listed["dead_letters"][0]["error"] == "boom"
    assert listed["dead_letters"][0]["message"] == messages[2]
    task = client.get(f"/api/tasks/{messages[0]['task_id']}", headers=auth).json
    assert task == {"task_id": messages[0]["task_id"], "state": "failed", "error": "boom"}

    first_id = listed["dead_letters"][-1]["id"]
    replay = client.post(
        f"/api/apps/{shop.app.id}/dead-letters/replay", json={"ids": [first_id]}, headers=auth
    ).json
    assert replay == {"replayed": 1, "ids": [first_id]}
    replay_all = client.post(f"/api/apps/{shop.app.id}/dead-letters/replay", headers=auth).json
    assert replay_all["replayed"] == 2
    assert (
        client.post(f"/api/apps/{shop.app.id}/dead-letters/replay", headers=auth).json["replayed"]
        == 0
    )
    wait_until(lambda: count_events(full_app) == 3, 30, "the replayed events")
    assert client.get(f"/api/apps/{shop.app.id}/dead-letters", headers=auth).json == {
        "dead_letters": []
    }
    assert (
        len(
            client.get(f"/api/apps/{shop.app.id}/dead-letters?all=1", headers=auth).json[
                "dead_letters"
            ]
        )
        == 3
    )
    stored = client.get(f"/api/tasks/{messages[0]['task_id']}?wait=5", headers=auth).json
    assert stored["state"] == "stored"


def test_dead_letters_of_another_app_are_not_visible(full_app):
    shop, blog = add_app(full_app, "shop"), add_app(full_app, "blog")
    client = full_app.test_client()
    response = client.get(
        f"/api/apps/{shop.app.id}/dead-letters",
        headers={"Authorization": f"Bearer {blog.read_key}"},
    )
    assert response.status_code == 404
    response = client.post(
        f"/api/apps/{shop.app.id}/dead-letters/replay",
        json={"ids": ["x"]},
        headers={"Authorization": f"Bearer {shop.read_key}"},
    )
    assert response.status_code == 400 and response.json["code"] == "invalid_parameter"


def test_replaying_twice_from_the_command_line_stores_once(full_app, celery_worker):
    shop = add_app(full_app, plan=DEMO_PLAN)
    message = queued_message(
        full_app, shop.app.write_key, {"eventName": "screen_view", "screen_name": "home"}
    )
    with full_app.app_context():
        record_dead_letter(
            message["task_id"], "app.tasks.events.process_events_async", message, "db was down"
        )
    runner = full_app.test_cli_runner()
    listed = [
        json.loads(line)
        for line in runner.invoke(args=["dead-letters", "list", "--json"]).output.splitlines()
    ]
    assert [d["task_id"] for d in listed] == [message["task_id"]]
    dead_id = str(listed[0]["id"])
    assert "replayed 1" in runner.invoke(args=["dead-letters", "replay", dead_id]).output
    # Replaying again (it is no longer pending) and a duplicate publish change nothing.
    assert "replayed 0" in runner.invoke(args=["dead-letters", "replay", "--all"]).output
    with full_app.app_context():
        process_events_async.apply_async(([message],))
    sentinel = queued_message(full_app, shop.app.write_key, {"eventName": "screen_view", "n": 1})
    with full_app.app_context():
        process_events_async.apply_async(([sentinel],))
    wait_until(lambda: count_events(full_app, task_id=sentinel["task_id"]) == 1, 30, "sentinel")
    assert count_events(full_app, task_id=message["task_id"]) == 1
    assert runner.invoke(args=["dead-letters", "replay"]).exit_code != 0  # ids or --all
