"""Test runs are judged per run: the run is part of the dedup key, so an event that failed in
one run and is sent again in the next is judged there, and the next run cannot pass by it."""

from __future__ import annotations

from app.services.events import store_events
from tests.conftest import add_app
from tests.helpers import DEMO_PLAN, queued_events

BROKEN = {"eventName": "purchase", "price": -5, "currency": "usd", "messageId": "m-1"}


def test_an_event_failing_in_one_run_fails_the_next_run_too(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    client, key = any_app.test_client(), shop.app.write_key
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    answers = {}
    # The run from the header, and from the event's context (which wins over the header).
    for run, send in (
        (
            "build-1",
            lambda: client.post(f"/api/logs/{key}", json=BROKEN, headers={"X-Test-Run": "build-1"}),
        ),
        (
            "build-2",
            lambda: client.post(
                f"/api/logs/{key}", json={**BROKEN, "context": {"testRun": "build-2"}}
            ),
        ),
        (
            "build-3",
            lambda: client.post(f"/api/logs/{key}", json=BROKEN, headers={"X-Test-Run": "build-3"}),
        ),
    ):
        answers[run] = send().json
        again = send().json  # within a run, a retry is still the same event
        assert again["status"] == "duplicate" and again["task_id"] == answers[run]["task_id"]
    assert [a["status"] for a in answers.values()] == ["invalid"] * 3
    assert len({a["task_id"] for a in answers.values()}) == 3
    with any_app.app_context():
        store_events(queued_events(any_app))
    for run in answers:
        report = client.get(f"/api/test-runs/{run}", headers=auth)
        assert report.status_code == 200, report.get_data(as_text=True)
        assert report.json["passed"] is False, report.json


def test_without_a_run_the_dedup_key_is_unchanged(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    client, key = any_app.test_client(), shop.app.write_key
    first = client.post(f"/api/logs/{key}", json=BROKEN).json
    second = client.post(f"/api/logs/{key}", json=BROKEN).json
    assert second["status"] == "duplicate" and second["task_id"] == first["task_id"]
