"""One tenant's write key cannot hurt another (full profile: gunicorn, a real Celery worker,
Redis, PostgreSQL). App A sends every poison class the service knows of while app B sends valid
events: B's events are all stored within 5 s and its reads answer 200; A's bad events are
refused (4xx, or `rejected` in their batch slot) or, for entries that reach the stream anyway,
dead-lettered and listed; and every event answered with a task id is stored or a dead letter."""

from __future__ import annotations

import json
import time

import redis
from sqlalchemy import select

from app.extensions import db
from app.models import DeadLetter, Event
from app.services.ingestion.event_stream import STREAM
from stack.servers import wait_until
from tests.e2e.http import request
from tests.helpers import DEMO_PLAN, queued_message
from tests.support.profiles import add_app

NUL, SURROGATE = '"a\\u0000b"', '"a\\ud800b"'  # JSON text the strict parser accepts
DERIVED = [  # context fragments, as JSON text around a value
    '{{"testRun": {v}}}',
    '{{"app": {{"version": {v}}}}}',
    '{{"os": {{"name": {v}}}}}',
    '{{"device": {{"id": {v}}}}}',
    '{{"library": {{"name": {v}, "version": "1"}}}}',
    '{{"library": {{"version": {v}}}}}',
]
FAR = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


def _post(url: str, text: str, headers: dict | None = None) -> tuple[int, dict]:
    return request("POST", url, raw=text.encode(), headers=headers)


def _accepted(answer: dict) -> list[str]:
    """Task ids of the events an answer accepted as new (not rejected, not duplicate)."""
    results = answer.get("results", [answer])
    return [r["task_id"] for r in results if r.get("status") not in ("rejected", "duplicate")]


def test_a_tenant_sending_poison_cannot_hold_back_another(full_app, gunicorn_url, celery_worker):
    attacker = add_app(full_app, "attacker", plan=DEMO_PLAN)
    bystander = add_app(full_app, "bystander", plan=DEMO_PLAN)
    a_key, b_key = attacker.app.write_key, bystander.app.write_key
    a_accepted: list[str] = []
    b_accepted: list[str] = []
    n = 0

    def bystander_sends() -> None:
        nonlocal n
        n += 1
        event = {"eventName": "user_login", "userId": n, "context": {"testRun": "b-run"}}
        status, answer = request("POST", f"{gunicorn_url}/api/logs/{b_key}", event)
        assert status == 202 and answer["status"] == "valid", answer
        b_accepted.append(answer["task_id"])
        batch = {"batch": [{"type": "track", "event": "user_login", "properties": {"userId": n}}]}
        status, answer = request("POST", f"{gunicorn_url}/v1/batch", {**batch, "writeKey": b_key})
        assert status == 200 and answer["counts"]["rejected"] == 0, answer
        b_accepted.extend(_accepted(answer))

    # 1. NUL and lone surrogates in every derived column, in a /v1/batch body's shared context:
    # the messages using it are rejected naming the field; one with its own context is stored.
    for fragment in DERIVED:
        for value in (NUL, SURROGATE):
            context = fragment.format(v=value)
            body = (
                f'{{"writeKey": "{a_key}", "context": {context}, "batch": ['
                '{"type": "track", "event": "user_login", "properties": {"userId": 1}},'
                '{"type": "identify", "userId": "u", "context": {"testRun": "a-run"}}]}'
            )
            status, answer = _post(f"{gunicorn_url}/v1/batch", body)
            assert status == 200, answer
            first, second = answer["results"]
            assert first["status"] == "rejected" and first["errors"][0]["field"].startswith(
                "context."
            ), answer
            a_accepted.extend(_accepted(answer))
            # The same in an event's own context, native: the whole event is a 400.
            single = f'{{"eventName": "user_login", "userId": 1, "context": {context}}}'
            status, answer = _post(f"{gunicorn_url}/api/logs/{a_key}", single)
            assert status == 400, answer
        bystander_sends()
    # ... and in userId / anonymousId of an SDK message.
    for field in ("userId", "anonymousId"):
        for value in (NUL, SURROGATE):
            body = f'{{"writeKey": "{a_key}", "{field}": {value}}}'
            status, answer = _post(f"{gunicorn_url}/v1/identify", body)
            assert status == 400, answer

    # 2. Numbers beyond a double: 400 alone, `rejected` in a batch whose neighbours are kept.
    status, answer = _post(
        f"{gunicorn_url}/api/logs/{a_key}", '{"eventName": "user_login", "userId": 1e400}'
    )
    assert (status, answer["code"]) == (400, "non_finite_number")
    status, answer = _post(
        f"{gunicorn_url}/api/logs/{a_key}/batch",
        '[{"eventName": "user_login", "userId": 2},{"eventName": "user_login", "userId": -1e400}]',
    )
    assert status == 202 and [r["status"] for r in answer["results"]] == ["valid", "rejected"]
    a_accepted.extend(_accepted(answer))
    bystander_sends()

    # 3. Times far in the past or future, in the event and as a batch's sentAt.
    for when in FAR:
        event = {"eventName": "user_login", "userId": 3, "timestamp": when}
        status, answer = request("POST", f"{gunicorn_url}/api/logs/{a_key}", event)
        assert status == 400 and answer["errors"][0]["field"] == "timestamp", answer
        body = {"writeKey": a_key, "sentAt": when, "batch": [{"type": "identify", "userId": "u"}]}
        status, answer = request("POST", f"{gunicorn_url}/v1/batch", body)
        assert status == 200 and answer["results"][0]["errors"][0]["field"] == "sentAt"
    bystander_sends()

    # 4. Versions that only look numeric are stored, and do not break statistics or reports.
    for version in ("1.²", "1.١", "1.10"):
        event = {"eventName": "user_login", "userId": 4, "context": {"app": {"version": version}}}
        status, answer = request("POST", f"{gunicorn_url}/api/logs/{a_key}", event)
        assert status == 202, answer
        a_accepted.extend(_accepted(answer))

    # 5. Entries that reach the stream whatever the door checks (an older version's, a bug's):
    # PostgreSQL refuses them, the worker quarantines them and stores what is behind them.
    poison = queued_message(full_app, a_key, {"eventName": "user_login", "userId": 5})
    poison["test_run"] = "a\x00b"
    with redis.Redis.from_url(full_app.config["REDIS_URL"]) as client:
        client.xadd(STREAM, {"e": json.dumps([poison])})
        client.xadd(STREAM, {"e": b"\xff not UTF-8, not JSON"})
    a_accepted.append(poison["task_id"])
    bystander_sends()
    last_b_sent = time.monotonic()

    b_auth = {"Authorization": f"Bearer {bystander.read_key}"}

    def b_all_stored() -> bool:
        return all(
            request("GET", f"{gunicorn_url}/api/tasks/{task_id}", headers=b_auth)[1]["state"]
            == "stored"
            for task_id in b_accepted
        )

    # Every one of B's events is stored within 5 s of the last one sent.
    wait_until(b_all_stored, 5, "every event of app B stored", interval=0.1)
    assert time.monotonic() - last_b_sent < 5
    b_app = bystander.app.id
    for path in (
        f"/api/apps/{b_app}/events",
        f"/api/apps/{b_app}/events?test_run=b-run",
        "/api/test-runs/b-run",
        f"/api/apps/{b_app}/dead-letters",
        f"/api/apps/{b_app}/tasks",
    ):
        status, answer = request("GET", gunicorn_url + path, headers=b_auth)
        assert status == 200, (path, answer)
    status, answer = request(
        "GET", f"{gunicorn_url}/api/apps/{b_app}/events?limit=500", None, b_auth
    )
    assert len(answer["events"]) == len(b_accepted)
    assert request("GET", f"{gunicorn_url}/api/apps/{b_app}/dead-letters", headers=b_auth)[1] == {
        "dead_letters": []
    }

    # Nothing of A's is lost: each event answered with a task id is stored or a dead letter.
    def settled() -> tuple[set[str], set[str]]:
        with full_app.app_context():
            stored = set(
                db.session.scalars(select(Event.task_id).where(Event.app_id == attacker.app.id))
            )
            dead = set(db.session.scalars(select(DeadLetter.task_id)))
            db.session.remove()
        return stored, dead

    wait_until(
        lambda: all(t in set().union(*settled()) for t in a_accepted), 10, "A's events settled"
    )
    stored, dead = settled()
    assert poison["task_id"] in dead and poison["task_id"] not in stored
    assert len([t for t in dead if t.startswith("entry:")]) == 1  # the bytes, in base64
    a_auth = {"Authorization": f"Bearer {attacker.read_key}"}
    status, listed = request(
        "GET", f"{gunicorn_url}/api/apps/{attacker.app.id}/dead-letters", headers=a_auth
    )
    assert status == 200 and [d["task_id"] for d in listed["dead_letters"]] == [poison["task_id"]]
    assert "\\u0000" in listed["dead_letters"][0]["message"]["escaped"]
    status, task = request("GET", f"{gunicorn_url}/api/tasks/{poison['task_id']}", headers=a_auth)
    assert (status, task["state"]) == (200, "failed")
    status, _ = request("GET", f"{gunicorn_url}/api/apps/{attacker.app.id}/events", headers=a_auth)
    assert status == 200
