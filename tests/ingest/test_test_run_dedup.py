"""Test runs are judged per run: the run is part of the dedup key, so an event that failed in
one run and is sent again in the next is judged there, and the next run cannot pass by it."""

from __future__ import annotations

import pytest

from app.services.storage.events import store_events
from tests.helpers import DEMO_PLAN, assert_error, queued_events
from tests.support.profiles import add_app

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


def as_sent(text: str) -> str:
    """A header value as a WSGI server hands it over: its UTF-8 bytes read as Latin-1."""
    return text.encode("utf-8").decode("latin-1")


def test_a_test_run_header_is_read_as_utf8(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    client, key = any_app.test_client(), shop.app.write_key
    response = client.post(
        f"/api/logs/{key}", json=BROKEN, headers={"X-Test-Run": as_sent("café-run")}
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    with any_app.app_context():
        store_events(queued_events(any_app))
    report = client.get(
        "/api/test-runs/café-run", headers={"Authorization": f"Bearer {shop.read_key}"}
    )
    assert report.status_code == 200, report.get_data(as_text=True)


def test_a_test_run_header_that_is_not_utf8_is_400(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    response = any_app.test_client().post(
        f"/api/logs/{shop.app.write_key}", json=BROKEN, headers={"X-Test-Run": "caf\xe9"}
    )
    assert_error(response, 400, "invalid_header")


def test_a_test_run_name_longer_than_255_is_refused_not_cut(any_app):
    """Cut names would merge runs that differ after character 255."""
    shop = add_app(any_app, plan=DEMO_PLAN)
    client, key = any_app.test_client(), shop.app.write_key
    long = "r" * 255 + "é"
    response = client.post(f"/api/logs/{key}", json=BROKEN, headers={"X-Test-Run": as_sent(long)})
    body = assert_error(response, 400, "invalid_header")
    assert "X-Test-Run" in body["message"]
    in_context = {**BROKEN, "context": {"testRun": long}}
    body = assert_error(client.post(f"/api/logs/{key}", json=in_context), 400, "invalid_event")
    assert body["errors"][0]["field"] == "context.testRun"
    batch = client.post(f"/api/logs/{key}/batch", json=[in_context, {"eventName": "x"}])
    assert [r["status"] for r in batch.json["results"]] == ["rejected", "unplanned"]
    sdk = {"type": "track", "event": "x", "context": {"testRun": long}}
    answer = client.post("/v1/batch", json={"writeKey": key, "batch": [sdk]}).json
    assert answer["results"][0]["status"] == "rejected"
    assert answer["results"][0]["errors"][0]["field"] == "context.testRun"
    # Exactly 255 characters is a name.
    fits = {**BROKEN, "context": {"testRun": "r" * 254 + "é"}}
    assert client.post(f"/api/logs/{key}", json=fits).status_code == 202


@pytest.mark.parametrize("value", [True, 123, {"name": "r"}, ["r"]])
def test_a_test_run_that_is_not_a_string_is_refused(any_app, value):
    """A number or `true` would make a run named after Python's spelling of it, an object
    would silently belong to no run: a name is a string."""
    shop = add_app(any_app, plan=DEMO_PLAN)
    event = {**BROKEN, "context": {"testRun": value}}
    response = any_app.test_client().post(f"/api/logs/{shop.app.write_key}", json=event)
    body = assert_error(response, 400, "invalid_event")
    assert body["errors"][0]["field"] == "context.testRun"
    assert "must be a string" in body["errors"][0]["message"]
