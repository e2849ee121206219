"""End to end in the full profile: HTTP → gunicorn → Redis → a real Celery worker → PostgreSQL."""

import itertools

from sqlalchemy import select

from app.extensions import db
from app.models import Event
from app.services.apps import find_app, rotate_write_key
from app.services.plans.versions import save_plan
from stack.servers import wait_until
from tests.e2e.http import request
from tests.helpers import DEMO_PLAN, count_events
from tests.support.profiles import add_app


def test_events_posted_over_http_are_stored_by_a_worker(full_app, gunicorn_url, celery_worker):
    new = add_app(full_app, plan=DEMO_PLAN)
    url = f"{gunicorn_url}/api/logs/{new.app.write_key}"
    answers = []
    for i in range(20):
        event = {"eventName": "user_login", "userId": i if i % 2 else f"u{i}"}
        status, body = request("POST", url, event)
        assert status == 202
        answers.append(body)
    status, batch = request(
        "POST", url + "/batch", {"events": [{"eventName": "screen_view", "screen_name": "s"}] * 2}
    )
    assert status == 202 and batch["counts"]["valid"] == 1 and batch["counts"]["duplicate"] == 1

    wait_until(lambda: count_events(full_app) == 21, 30, "21 stored rows")
    with full_app.app_context():
        stored = {e.task_id: e.status for e in db.session.scalars(select(Event))}
    for answer in answers:
        assert stored[answer["task_id"]] == answer["status"]
    assert sorted(a["status"] for a in answers) == ["invalid"] * 10 + ["valid"] * 10

    auth = {"Authorization": f"Bearer {new.read_key}"}
    status, task = request(
        "GET", f"{gunicorn_url}/api/tasks/{answers[0]['task_id']}?wait=5", headers=auth
    )
    assert (status, task["state"]) == (200, "stored")
    status, page = request(
        "GET", f"{gunicorn_url}/api/apps/{new.app.id}/events?status=invalid", headers=auth
    )
    assert status == 200 and len(page["events"]) == 10


def test_a_new_plan_version_applies_to_the_next_event_in_every_gunicorn_worker(
    full_app, gunicorn_url
):
    new = add_app(full_app, plan=DEMO_PLAN)
    url = f"{gunicorn_url}/api/logs/{new.app.write_key}"
    # Warm both workers' caches with the old plan.
    for i in range(6):
        assert request("POST", url, {"eventName": "new_event", "n": i})[1]["status"] == "unplanned"
    with full_app.app_context():
        plan = {**DEMO_PLAN, "events": {**DEMO_PLAN["events"], "new_event": {"type": "object"}}}
        save_plan(find_app(new.app.id), plan, publish=True)

    # The change is announced over Redis; every worker drops its cached entry. Each poll sends
    # new payloads: the same one again would be answered `duplicate`.
    sent = itertools.count()

    def all_valid() -> bool:
        return all(
            request("POST", url, {"eventName": "new_event", "m": next(sent)})[1]["status"]
            == "valid"
            for _ in range(6)
        )

    wait_until(all_valid, 10, "the new plan in every worker")


def test_unknown_and_rotated_keys_are_refused(full_app, gunicorn_url):
    new = add_app(full_app, plan=DEMO_PLAN)
    old_key = new.app.write_key
    assert request("POST", f"{gunicorn_url}/api/logs/{old_key}", {"eventName": "a"})[0] == 202
    with full_app.app_context():
        new_key = rotate_write_key(find_app(new.app.id))

    def old_key_refused() -> bool:
        return all(
            request("POST", f"{gunicorn_url}/api/logs/{old_key}", {"eventName": "b"})[0] == 401
            for _ in range(6)
        )

    wait_until(old_key_refused, 10, "the old key refused everywhere")
    assert request("POST", f"{gunicorn_url}/api/logs/{new_key}", {"eventName": "c"})[0] == 202
