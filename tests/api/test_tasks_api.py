"""The task list and task statistics: every accepted event is a task, `stored` (an event row) or
`failed` (a pending dead letter), listed newest first by when it was accepted, and counted with
its accept-to-store latency (PostgreSQL computes the percentiles, micro computes them in Python:
both are checked against rows read back and a percentile computed here with the statistics
module).

Bad inputs tried (each a JSON error, never a 500): state=queued, state=bogus; since and until
that are not times (`yesterday`, a year past 9999, an offset that overflows year 1); since after
until; limit 0, 501, `abc`; cursors that are not base64, not JSON, JSON of the wrong shape, a
naive time, a kind rank of 7, a row id of 0, of 2**63 and of `"1"`; stats windows that are empty,
reversed or longer than 24 hours; no credentials (401).
"""

from __future__ import annotations

import base64
import json
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import DeadLetter, Event
from app.services.storage.dead_letters import mark_replayed, record_dead_letter
from app.services.storage.events import store_events
from app.tasks.events import TASK_NAME
from tests.helpers import DEMO_PLAN, assert_error, queued_message
from tests.support.profiles import add_app


def _message(flask_app: Flask, write_key: str, n: int, received_at: datetime) -> dict:
    """An accepted event's message, as if accepted at `received_at`."""
    message = queued_message(flask_app, write_key, {"eventName": "user_login", "userId": n})
    message["received_at"] = received_at.isoformat()
    return message


def _dead(flask_app: Flask, message: dict, error: str = "boom") -> int:
    with flask_app.app_context():
        record_dead_letter(message["task_id"], TASK_NAME, message, error)
        dead_id = db.session.scalar(
            select(DeadLetter.id).where(DeadLetter.task_id == message["task_id"])
        )
        db.session.remove()
        return dead_id


def _store(flask_app: Flask, messages: list[dict]) -> None:
    with flask_app.app_context():
        assert store_events(messages) == len(messages)
        db.session.remove()


def _latencies(flask_app: Flask, app_id: int) -> dict[str, float]:
    """Accept-to-store latency of each stored row, in ms, computed here from the columns."""
    with flask_app.app_context():
        rows = db.session.execute(
            select(Event.task_id, Event.received_at, Event.stored_at).where(Event.app_id == app_id)
        ).all()
        db.session.remove()
    return {task: (stored - received).total_seconds() * 1000 for task, received, stored in rows}


@pytest.fixture
def shop(any_app):
    new = add_app(any_app, "shop", plan=DEMO_PLAN)
    return new.app.id, new.app.write_key, {"Authorization": f"Bearer {new.read_key}"}


def test_stored_and_failed_tasks_newest_first_with_latency_or_error(any_app, shop):
    app_id, key, auth = shop
    now = datetime.now(UTC)
    stored = [_message(any_app, key, n, now - timedelta(seconds=10 * n)) for n in (1, 2, 3)]
    failed = [_message(any_app, key, n, now - timedelta(seconds=s)) for n, s in ((4, 5), (5, 25))]
    replayed = _message(any_app, key, 6, now - timedelta(seconds=1))
    _store(any_app, stored)
    dead_ids = [_dead(any_app, m, f"error {i}") for i, m in enumerate(failed)]
    replayed_id = _dead(any_app, replayed)
    with any_app.app_context():
        mark_replayed([replayed_id])  # queued again: neither stored nor failed now
    other = add_app(any_app, "other")
    _store(any_app, [_message(any_app, other.app.write_key, 9, now)])  # another app's task

    client = any_app.test_client()
    body = client.get(f"/api/apps/{app_id}/tasks", headers=auth).json
    assert body["next_cursor"] is None
    tasks = body["tasks"]
    # Newest first by acceptance: failed 5 s, stored 10 s, stored 20 s, failed 25 s, stored 30 s.
    order = [failed[0], stored[0], stored[1], failed[1], stored[2]]
    assert [t["task_id"] for t in tasks] == [m["task_id"] for m in order]
    assert [t["state"] for t in tasks] == ["failed", "stored", "stored", "failed", "stored"]
    latencies = _latencies(any_app, app_id)
    for task in tasks:
        assert task["event_name"] == "user_login"
        if task["state"] == "stored":
            assert task["latency_ms"] == pytest.approx(latencies[task["task_id"]], abs=0.002)
            assert task["latency_ms"] >= 10_000  # accepted 10 s or more before it was stored
            received = datetime.fromisoformat(task["received_at"])
            stored_at = datetime.fromisoformat(task["stored_at"])
            assert (stored_at - received).total_seconds() * 1000 == pytest.approx(
                task["latency_ms"], abs=0.002
            )
            assert "error" not in task
        else:
            assert "latency_ms" not in task and "stored_at" not in task
    assert [(t["dead_letter_id"], t["error"]) for t in tasks if t["state"] == "failed"] == [
        (dead_ids[0], "error 0"),
        (dead_ids[1], "error 1"),
    ]

    only_failed = client.get(f"/api/apps/{app_id}/tasks?state=failed", headers=auth).json
    assert [t["task_id"] for t in only_failed["tasks"]] == [m["task_id"] for m in failed]
    only_stored = client.get(f"/api/apps/{app_id}/tasks?state=stored", headers=auth).json
    assert [t["task_id"] for t in only_stored["tasks"]] == [m["task_id"] for m in stored]

    # A window: accepted 22 s ago (included) up to 10 s ago (excluded).
    since = (now - timedelta(seconds=26)).isoformat()
    until = (now - timedelta(seconds=10)).isoformat()
    window = client.get(
        f"/api/apps/{app_id}/tasks", query_string={"since": since, "until": until}, headers=auth
    ).json
    assert [t["task_id"] for t in window["tasks"]] == [stored[1]["task_id"], failed[1]["task_id"]]


def test_pages_follow_each_other_without_gaps_or_repeats(any_app, shop):
    app_id, key, auth = shop
    now = datetime.now(UTC)
    batch_time = now - timedelta(seconds=30)  # the events of one batch request share it
    stored = [_message(any_app, key, n, batch_time) for n in range(4)]
    stored += [_message(any_app, key, n, now - timedelta(seconds=n)) for n in range(10, 14)]
    failed = [_message(any_app, key, 20, batch_time), _message(any_app, key, 21, now)]
    _store(any_app, stored)
    for message in failed:
        _dead(any_app, message)
    client = any_app.test_client()
    everything = client.get(f"/api/apps/{app_id}/tasks", headers=auth).json["tasks"]
    assert len(everything) == 10
    for state, size in ((None, 3), (None, 1), ("stored", 3), ("failed", 1)):
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": size, **({"cursor": cursor} if cursor else {})}
            if state:
                params["state"] = state
            body = client.get(f"/api/apps/{app_id}/tasks", query_string=params, headers=auth).json
            assert len(body["tasks"]) <= size
            seen += body["tasks"]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        expected = [t for t in everything if state in (None, t["state"])]
        assert seen == expected, (state, size)
        assert pages == -(-len(expected) // size)  # no empty last page


def test_statistics_count_rates_and_latency_of_the_window(any_app, shop):
    app_id, key, auth = shop
    now = datetime.now(UTC)
    # Accepted 1 to 7 minutes ago, a few hundred ms apart within each minute.
    recent = [
        _message(any_app, key, n, now - timedelta(minutes=n, milliseconds=137 * n))
        for n in range(1, 8)
    ]
    old = _message(any_app, key, 100, now - timedelta(hours=2))
    _store(any_app, recent[:4])
    _store(any_app, [*recent[4:], old])
    _dead(any_app, _message(any_app, key, 200, now - timedelta(minutes=3)))
    _dead(any_app, _message(any_app, key, 201, now - timedelta(hours=3)))
    replayed = _dead(any_app, _message(any_app, key, 202, now - timedelta(minutes=1)))
    with any_app.app_context():
        mark_replayed([replayed])
    client = any_app.test_client()

    stats = client.get(f"/api/apps/{app_id}/tasks/stats", headers=auth).json
    assert (stats["stored"], stats["failed"]) == (7, 1)
    since, until = (datetime.fromisoformat(stats[k]) for k in ("since", "until"))
    assert until - since == timedelta(hours=1)  # the default window
    assert abs((until - datetime.now(UTC)).total_seconds()) < 5
    assert stats["stored_per_minute"] == round(7 / 60, 3)
    assert stats["failed_per_minute"] == round(1 / 60, 3)
    latencies = _latencies(any_app, app_id)
    window = sorted(latencies[m["task_id"]] for m in recent)
    cuts = statistics.quantiles(window, n=100, method="inclusive")  # percentile_cont's rule
    assert stats["latency_ms"]["p50"] == pytest.approx(cuts[49], abs=0.01)
    assert stats["latency_ms"]["p95"] == pytest.approx(cuts[94], abs=0.01)
    assert stats["latency_ms"]["max"] == pytest.approx(max(window), abs=0.01)
    assert stats["latency_ms"]["max"] > 7 * 60_000  # the 7-minute-old one, not the 2-hour one

    wider = {
        "since": (now - timedelta(minutes=150)).isoformat(),
        "until": now.isoformat(),
    }
    stats = client.get(f"/api/apps/{app_id}/tasks/stats", query_string=wider, headers=auth).json
    assert (stats["stored"], stats["failed"]) == (8, 1)
    assert stats["stored_per_minute"] == round(8 / 150, 3)
    assert stats["latency_ms"]["max"] == pytest.approx(latencies[old["task_id"]], abs=0.01)

    empty = {"since": "2020-01-01T00:00:00Z", "until": "2020-01-01T01:00:00Z"}
    stats = client.get(f"/api/apps/{app_id}/tasks/stats", query_string=empty, headers=auth).json
    assert stats == {
        "since": "2020-01-01T00:00:00+00:00",
        "until": "2020-01-01T01:00:00+00:00",
        "stored": 0,
        "failed": 0,
        "stored_per_minute": 0.0,
        "failed_per_minute": 0.0,
        "latency_ms": {"p50": None, "p95": None, "max": None},
    }


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


BAD_LIST_PARAMS = [
    {"state": "queued"},
    {"state": "bogus"},
    {"since": "yesterday"},
    {"until": "10000-01-01T00:00:00"},
    {"since": "0001-01-01T00:00:00+01:00"},
    {"since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
    {"limit": "0"},
    {"limit": "501"},
    {"limit": "abc"},
    {"cursor": "!!!"},
    {"cursor": base64.urlsafe_b64encode(b"not json").decode()},
    {"cursor": _cursor({"a": 1})},
    {"cursor": _cursor(["2024-01-01T00:00:00", 0, 1])},
    {"cursor": _cursor(["2024-01-01T00:00:00+00:00", 7, 1])},
    {"cursor": _cursor(["2024-01-01T00:00:00+00:00", 0, 0])},
    {"cursor": _cursor(["2024-01-01T00:00:00+00:00", 0, 2**63])},
    {"cursor": _cursor(["2024-01-01T00:00:00+00:00", 0, "1"])},
    {"cursor": _cursor(["not a time", 0, 1])},
]
BAD_STATS_PARAMS = [
    {"since": "yesterday"},
    {"until": "nope"},
    {"since": "2024-01-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
    {"since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
    {"since": "2024-01-01T00:00:00Z", "until": "2024-01-02T00:00:01Z"},
    {"since": (datetime.now(UTC) - timedelta(days=2)).isoformat()},
]


def test_bad_parameters_are_json_errors(micro_app):
    shop = add_app(micro_app, "shop")
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    client = micro_app.test_client()
    url = f"/api/apps/{shop.app.id}/tasks"
    for params in BAD_LIST_PARAMS:
        assert_error(client.get(url, query_string=params, headers=auth), 400, "invalid_parameter")
    for params in BAD_STATS_PARAMS:
        response = client.get(f"{url}/stats", query_string=params, headers=auth)
        assert_error(response, 400, "invalid_parameter")
    for path in (url, f"{url}/stats"):
        assert_error(client.get(path), 401, "unauthorized")
    # ... and the same client with sound parameters gets an answer.
    assert client.get(url, headers=auth).json == {"tasks": [], "next_cursor": None}
