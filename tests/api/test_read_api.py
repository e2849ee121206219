"""Read API: `GET /api/apps/<id>/events` and `GET /api/tasks/<task_id>`.

No worker runs in these tests. Stored rows are made the way a worker makes them: the ingest code
prepares each event's queued message (`prepare_native` with the request info of a real request
context, so task ids are really signed for the app) and `store_events` inserts it.

Bad inputs tried: no Authorization header, an unknown key, the write key as a read key, the
read key without "Bearer" or under "Basic", an empty bearer token, another app's read key,
an app id that does not exist; limit 0, 501, -5, 2.5 and "x"; cursors that are not base64, not
a number, or a number too big for any id; since values that are no time, or valid times that
fall outside datetime's range once converted to UTC; task ids that are random uuids, not uuids,
forged (one byte changed), issued before the retention window, or issued to another app;
wait=abc, -1, 1.5 and 31 (over the 30 s maximum).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app.ingest.endpoint_steps import request_info
from app.services.apps import NewApp
from app.services.ingestion.task_ids import new_task_id
from app.services.ingestion.verdicts import prepare_native
from app.services.storage.dead_letters import record_dead_letter
from app.services.storage.events import store_events
from tests.conftest import add_app

DEMO_PLAN = json.loads(
    (Path(__file__).resolve().parents[2] / "app" / "validation" / "demo_plan.json").read_text()
)
CONTRACT_KEYS = {
    "id",
    "event_name",
    "status",
    "errors",
    "payload",
    "payload_hash",
    "task_id",
    "message_id",
    "received_at",
    "timestamp",
    "app_version",
    "device_id",
    "test_run",
}
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# --- helpers ---------------------------------------------------------------------------------


def prepare(
    flask_app: Flask,
    new: NewApp,
    raw_events: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
    received_at: datetime | None = None,
) -> list[dict[str, Any]]:
    """The messages ingestion would queue for these events (with real signed task ids)."""
    with flask_app.test_request_context(headers=headers or {}):
        entry = flask_app.extensions["app_directory"].lookup(new.app.write_key)
        info = request_info(entry, new.app.write_key)
        if received_at is not None:
            info = dataclasses.replace(info, received_at=received_at)
        return [prepare_native(raw, info).message.to_dict() for raw in raw_events]


def store(flask_app: Flask, new: NewApp, raw_events: list[dict[str, Any]], **kwargs):
    """Store events as a worker would, one insert each so ids follow the list's order."""
    messages = prepare(flask_app, new, raw_events, **kwargs)
    with flask_app.app_context():
        for message in messages:
            assert store_events([message]) == 1
    return messages


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def list_events(client, new: NewApp, key: str | None = None, **params):
    return client.get(
        f"/api/apps/{new.app.id}/events",
        query_string=params,
        headers=bearer(key if key is not None else new.read_key),
    )


def events_of(client, new: NewApp, **params) -> list[dict[str, Any]]:
    response = list_events(client, new, **params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["events"]


def get_task(client, new: NewApp, task_id: str, key: str | None = None, **params):
    return client.get(
        f"/api/tasks/{task_id}",
        query_string=params,
        headers=bearer(key if key is not None else new.read_key),
    )


def assert_error(response, status: int, code: str | None = None) -> dict[str, Any]:
    """A JSON error body `{"code", "message"}` with this status."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body["code"], str) and isinstance(body["message"], str)
    assert body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def client(any_app):
    return any_app.test_client()


@pytest.fixture
def shop(any_app):
    return add_app(any_app, plan=DEMO_PLAN)


# --- authentication ----------------------------------------------------------------------------

AUTH_HEADERS = [
    pytest.param(lambda app: {}, id="no-header"),
    pytest.param(lambda app: bearer("rk_no_such_key"), id="unknown-key"),
    pytest.param(lambda app: bearer(app.app.write_key), id="write-key"),
    pytest.param(lambda app: {"Authorization": f"Basic {app.read_key}"}, id="basic-scheme"),
    pytest.param(lambda app: {"Authorization": app.read_key}, id="no-scheme"),
    pytest.param(lambda app: {"Authorization": "Bearer  "}, id="empty-token"),
]


@pytest.mark.parametrize("headers", AUTH_HEADERS)
def test_events_need_the_read_key(any_app, client, shop, headers):
    store(any_app, shop, [{"eventName": "user_login", "userId": 1}])
    response = client.get(f"/api/apps/{shop.app.id}/events", headers=headers(shop))
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize("headers", AUTH_HEADERS)
def test_tasks_need_the_read_key(any_app, client, shop, headers):
    [message] = store(any_app, shop, [{"eventName": "user_login", "userId": 1}])
    response = client.get(f"/api/tasks/{message['task_id']}", headers=headers(shop))
    assert_error(response, 401, "unauthorized")


def test_read_key_works_with_any_case_of_bearer(any_app, client, shop):
    [message] = store(any_app, shop, [{"eventName": "user_login", "userId": 1}])
    headers = {"Authorization": f"bearer {shop.read_key}"}
    assert client.get(f"/api/apps/{shop.app.id}/events", headers=headers).status_code == 200
    assert client.get(f"/api/tasks/{message['task_id']}", headers=headers).status_code == 200


def test_another_apps_read_key_sees_404(any_app, client, shop):
    other = add_app(any_app, name="other")
    store(any_app, shop, [{"eventName": "user_login", "userId": 1}])
    assert_error(list_events(client, shop, key=other.read_key), 404, "not_found")


def test_an_app_that_does_not_exist_is_404(client, shop):
    response = client.get(f"/api/apps/{shop.app.id + 1000}/events", headers=bearer(shop.read_key))
    assert_error(response, 404, "not_found")


def test_events_of_other_apps_are_never_listed(any_app, client, shop):
    other = add_app(any_app, name="other", plan=DEMO_PLAN)
    store(any_app, other, [{"eventName": "user_login", "userId": 2}])
    mine = store(any_app, shop, [{"eventName": "user_login", "userId": 1}])
    assert [e["task_id"] for e in events_of(client, shop)] == [mine[0]["task_id"]]


# --- listing -----------------------------------------------------------------------------------


def test_events_are_listed_newest_first(any_app, client, shop):
    names = ["user_login", "purchase", "screen_view"]
    messages = store(any_app, shop, [{"eventName": name} for name in names])
    events = events_of(client, shop)
    assert [e["event_name"] for e in events] == list(reversed(names))
    assert [e["task_id"] for e in events] == [m["task_id"] for m in reversed(messages)]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids, reverse=True)


def test_an_event_shows_the_contract_fields(any_app, client, shop):
    raw = {
        "eventName": "user_login",
        "userId": "abc",
        "messageId": "msg-1",
        "timestamp": "2024-05-01T11:59:00Z",
        "sentAt": "2024-05-01T12:00:00Z",
        "context": {"app": {"version": "3.1.4"}, "device": {"id": "pixel-7"}, "testRun": "r-1"},
    }
    [message] = store(any_app, shop, [raw], received_at=T0)
    response = list_events(client, shop)
    assert response.mimetype == "application/json"
    assert response.json["next_cursor"] is None
    [event] = response.json["events"]
    assert CONTRACT_KEYS <= set(event)
    assert isinstance(event["id"], int)
    assert event["event_name"] == "user_login"
    assert event["status"] == "invalid"
    assert [(v["path"], v["rule"]) for v in event["errors"]] == [("/properties/userId", "type")]
    assert event["errors"] == message["violations"]
    assert event["payload"] == raw
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert event["payload_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert event["task_id"] == message["task_id"]
    assert event["message_id"] == "msg-1"
    assert at(event["received_at"]) == T0
    assert at(event["timestamp"]) == T0 - timedelta(minutes=1)  # corrected for clock skew
    assert (event["app_version"], event["device_id"], event["test_run"]) == (
        "3.1.4",
        "pixel-7",
        "r-1",
    )


def test_test_run_from_the_header_is_stored(any_app, client, shop):
    store(any_app, shop, [{"eventName": "user_login", "userId": 1}], headers={"X-Test-Run": "h"})
    assert events_of(client, shop)[0]["test_run"] == "h"


def test_odd_event_names_come_back_exactly(any_app, client, shop):
    names = ["'; DROP TABLE events; --", '<script>alert("x")</script>', "ünï 事件 🎉"]
    store(any_app, shop, [{"eventName": name} for name in names])
    assert [e["event_name"] for e in events_of(client, shop)] == list(reversed(names))
    for name in names:
        assert [e["event_name"] for e in events_of(client, shop, event_name=name)] == [name]


def test_an_app_without_events_lists_nothing(client, shop):
    response = list_events(client, shop)
    assert response.status_code == 200
    assert response.json == {"events": [], "next_cursor": None}


# --- filters -----------------------------------------------------------------------------------


def context(version: str, device: str, test_run: str | None = None) -> dict[str, Any]:
    ctx: dict[str, Any] = {"app": {"version": version}, "device": {"id": device}}
    if test_run is not None:
        ctx["testRun"] = test_run
    return ctx


MIXED_EVENTS = [
    {"eventName": "user_login", "userId": 1, "context": context("1.0", "d1", "run-a")},
    {"eventName": "user_login", "userId": "x", "context": context("2.0", "d2", "run-a")},
    {
        "eventName": "purchase",
        "price": 1,
        "currency": "EUR",
        "context": context("1.0", "d1", "run-b"),
    },
    {"eventName": "mystery", "context": context("2.0", "d2")},
    {
        "eventName": "purchase",
        "price": -1,
        "currency": "EUR",
        "context": context("1.0", "d3", "run-b"),
    },
]


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "valid"},
        {"status": "invalid"},
        {"status": "unplanned"},
        {"event_name": "user_login"},
        {"event_name": "purchase"},
        {"test_run": "run-a"},
        {"test_run": "run-b"},
        {"app_version": "2.0"},
        {"app_version": "1.0"},
        {"device_id": "d1"},
        {"status": "valid", "test_run": "run-a"},
        {"event_name": "purchase", "app_version": "1.0", "status": "invalid"},
        {"event_name": "nothing-like-this"},
    ],
    ids=lambda filters: "&".join(f"{k}={v}" for k, v in filters.items()),
)
def test_filters_narrow_the_list(any_app, client, shop, filters):
    messages = store(any_app, shop, MIXED_EVENTS)
    expected = [
        m["task_id"]
        for m in reversed(messages)
        if all(m[field] == value for field, value in filters.items())
    ]
    assert [e["task_id"] for e in events_of(client, shop, **filters)] == expected


def test_empty_filter_values_are_ignored(any_app, client, shop):
    store(any_app, shop, MIXED_EVENTS)
    assert len(events_of(client, shop, status="", event_name="")) == len(MIXED_EVENTS)


# --- pagination --------------------------------------------------------------------------------


def all_pages(client, new: NewApp, limit: int, **filters) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        params = {"limit": limit, **filters, **({"cursor": cursor} if cursor else {})}
        response = list_events(client, new, **params)
        assert response.status_code == 200, response.get_data(as_text=True)
        pages.append(response.json["events"])
        cursor = response.json["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "pagination does not end"


@pytest.mark.parametrize(("count", "sizes"), [(7, [3, 3, 1]), (6, [3, 3]), (3, [3]), (1, [1])])
def test_pages_cover_every_event_exactly_once(any_app, client, shop, count, sizes):
    messages = store(any_app, shop, [{"eventName": "e", "n": i} for i in range(count)])
    pages = all_pages(client, shop, limit=3)
    assert [len(page) for page in pages] == sizes
    seen = [e["task_id"] for page in pages for e in page]
    assert seen == [m["task_id"] for m in reversed(messages)]
    assert len(set(seen)) == count


def test_pages_keep_their_filter(any_app, client, shop):
    messages = store(any_app, shop, MIXED_EVENTS * 2)
    pages = all_pages(client, shop, limit=2, app_version="1.0")
    seen = [e["task_id"] for page in pages for e in page]
    assert seen == [m["task_id"] for m in reversed(messages) if m["app_version"] == "1.0"]
    assert all(e["app_version"] == "1.0" for page in pages for e in page)


def test_events_stored_between_pages_do_not_shift_them(any_app, client, shop):
    old = store(any_app, shop, [{"eventName": "e", "n": i} for i in range(4)])
    first = list_events(client, shop, limit=2).json
    store(any_app, shop, [{"eventName": "e", "n": "new"}])
    second = list_events(client, shop, limit=2, cursor=first["next_cursor"]).json
    seen = [e["task_id"] for e in first["events"] + second["events"]]
    assert seen == [m["task_id"] for m in reversed(old)]
    assert second["next_cursor"] is None


def test_limit_defaults_to_50_and_allows_500(any_app, client, shop):
    store(any_app, shop, [{"eventName": "e", "n": i} for i in range(51)])
    response = list_events(client, shop)
    assert len(response.json["events"]) == 50
    assert response.json["next_cursor"] is not None
    assert len(events_of(client, shop, limit=500)) == 51


# --- since -------------------------------------------------------------------------------------


@pytest.fixture
def three_hours(any_app, shop) -> list[str]:
    """Task ids of events received at T0, T0 + 1 h and T0 + 2 h."""
    task_ids = []
    for hour in range(3):
        received = T0 + timedelta(hours=hour)
        [message] = store(any_app, shop, [{"eventName": "e", "n": hour}], received_at=received)
        task_ids.append(message["task_id"])
    return task_ids


@pytest.mark.parametrize(
    ("since", "hours"),
    [
        ("2024-05-01T13:00:00Z", [2, 1]),  # inclusive
        ("2024-05-01T13:00:00+00:00", [2, 1]),
        ("2024-05-01T15:00:00+02:00", [2, 1]),  # the same instant in another zone
        ("2024-05-01T13:00:00", [2, 1]),  # naive: UTC
        ("2024-05-01T13:00:00.000001Z", [2]),
        ("2024-05-01T11:59:59Z", [2, 1, 0]),
        ("2024-05-01", [2, 1, 0]),
        ("2024-05-01T14:00:01Z", []),
    ],
)
def test_since_filters_by_received_time(client, shop, three_hours, since, hours):
    expected = [three_hours[hour] for hour in hours]
    assert [e["task_id"] for e in events_of(client, shop, since=since)] == expected


def test_since_combines_with_filters_and_pages(any_app, client, shop, three_hours):
    pages = all_pages(client, shop, limit=1, since="2024-05-01T13:00:00Z", event_name="e")
    assert [e["task_id"] for page in pages for e in page] == [three_hours[2], three_hours[1]]


# --- bad parameters ----------------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "-5"},
        {"limit": "2.5"},
        {"limit": "x"},
        {"cursor": "!!!"},
        {"cursor": b64("ten")},
        {"cursor": "abc"},  # decodes to bytes that are not UTF-8
        {"since": "yesterday"},
        {"since": "2024-13-01T00:00:00Z"},
        {"since": "2024-05-01T12:00:00 00:00"},  # an unencoded "+" arrives as a space
    ],
    ids=lambda p: "{}={}".format(*next(iter(p.items()))),
)
def test_bad_parameters_are_400(any_app, client, shop, params):
    store(any_app, shop, [{"eventName": "e"}])
    assert_error(list_events(client, shop, **params), 400, "invalid_parameter")


def test_cursor_beyond_any_id_is_400(any_app, client, shop):
    store(any_app, shop, [{"eventName": "e"}])
    response = list_events(client, shop, cursor=b64("9" * 25))
    assert_error(response, 400, "invalid_parameter")


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_since_at_the_edge_of_time_is_not_a_server_error(any_app, client, shop, since):
    store(any_app, shop, [{"eventName": "e"}])
    response = list_events(client, shop, since=since)
    assert response.status_code in (200, 400), response.get_data(as_text=True)


# --- tasks -------------------------------------------------------------------------------------


def test_stored_event_task_is_stored(any_app, client, shop):
    [message] = store(any_app, shop, [{"eventName": "user_login", "userId": "x"}])
    response = get_task(client, shop, message["task_id"])
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    state = response.json
    assert state["state"] == "stored"
    assert state["task_id"] == message["task_id"]
    assert state["status"] == "invalid"
    assert state["event_id"] == events_of(client, shop)[0]["id"]


def test_stored_task_answers_at_once_even_with_wait(any_app, client, shop):
    [message] = store(any_app, shop, [{"eventName": "user_login", "userId": 1}])
    assert get_task(client, shop, message["task_id"], wait=30).json["state"] == "stored"


def ingest(client, new: NewApp, event: dict[str, Any]) -> str:
    response = client.post(f"/api/logs/{new.app.write_key}", json=event)
    assert response.status_code == 202
    return response.json["task_id"]


def test_accepted_but_unstored_task_is_queued(client, shop):
    task_id = ingest(client, shop, {"eventName": "user_login", "userId": 1})
    response = get_task(client, shop, task_id)
    assert response.status_code == 200
    assert response.json == {"task_id": task_id, "state": "queued"}


def test_long_poll_ends_still_queued_when_no_worker_runs(client, shop):
    task_id = ingest(client, shop, {"eventName": "user_login", "userId": 1})
    response = get_task(client, shop, task_id, wait=1)
    assert response.status_code == 200
    assert response.json["state"] == "queued"


def test_duplicate_answer_points_at_a_known_task(any_app, client, shop):
    event = {"eventName": "user_login", "userId": 1, "messageId": "m-1"}
    first = ingest(client, shop, event)
    assert ingest(client, shop, event) == first
    assert get_task(client, shop, first).json["state"] == "queued"


def test_dead_letter_is_failed_with_its_error(any_app, client, shop):
    [message] = prepare(any_app, shop, [{"eventName": "user_login", "userId": 1}])
    with any_app.app_context():
        record_dead_letter(
            message["task_id"], "app.tasks.events.process_events_async", message, "boom"
        )
    response = get_task(client, shop, message["task_id"])
    assert response.status_code == 200
    assert response.json == {"task_id": message["task_id"], "state": "failed", "error": "boom"}


@pytest.mark.parametrize(
    "task_id",
    [str(uuid.uuid4()), "not-a-uuid", "0" * 32, "x" * 100],
    ids=["random-uuid", "not-a-uuid", "zeros", "long"],
)
def test_unknown_task_is_404(client, shop, task_id):
    assert_error(get_task(client, shop, task_id), 404, "not_found")


def test_unknown_task_with_wait_is_404_at_once(client, shop):
    assert_error(get_task(client, shop, str(uuid.uuid4()), wait=30), 404, "not_found")


def test_forged_task_id_is_404(client, shop):
    task_id = ingest(client, shop, {"eventName": "user_login", "userId": 1})
    raw = bytearray(uuid.UUID(task_id).bytes)
    raw[-1] ^= 0x01  # one bit of the signature
    assert_error(get_task(client, shop, str(uuid.UUID(bytes=bytes(raw)))), 404)


def test_task_issued_before_the_retention_window_is_404(any_app, client, shop):
    days = any_app.config["TASK_RETENTION_DAYS"]
    secret = any_app.config["SECRET_KEY"].encode()
    fresh = new_task_id(secret, shop.app.id)
    stale = new_task_id(secret, shop.app.id, now=time.time() - (days + 1) * 86400)
    assert get_task(client, shop, fresh).json["state"] == "queued"
    assert_error(get_task(client, shop, stale), 404)


def test_another_apps_task_is_404(any_app, client, shop):
    other = add_app(any_app, name="other", plan=DEMO_PLAN)
    [stored] = store(any_app, other, [{"eventName": "user_login", "userId": 1}])
    queued = ingest(client, other, {"eventName": "user_login", "userId": 2})
    [dead] = prepare(any_app, other, [{"eventName": "user_login", "userId": 3}])
    with any_app.app_context():
        record_dead_letter(dead["task_id"], "x", dead, "boom")
    for task_id in (stored["task_id"], queued, dead["task_id"]):
        assert_error(get_task(client, shop, task_id), 404, "not_found")
        assert get_task(client, other, task_id).status_code == 200


@pytest.mark.parametrize("wait", ["abc", "-1", "1.5", "31"])
def test_bad_wait_is_400(client, shop, wait):
    task_id = ingest(client, shop, {"eventName": "user_login", "userId": 1})
    assert_error(get_task(client, shop, task_id, wait=wait), 400, "invalid_parameter")
