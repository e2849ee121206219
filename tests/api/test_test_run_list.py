"""The list of an app's test runs (`GET /api/apps/<id>/test-runs`) and the grouped violations of
a run report (`GET /api/test-runs/<run>`), on SQLite and PostgreSQL: events are stored as a
worker stores them, the runs counted from them.

Bad inputs tried: a cursor this API never gave out, limits out of range."""

from __future__ import annotations

from datetime import timedelta

from app.models.types import utcnow
from app.services.storage.events import store_events
from tests.helpers import DEMO_PLAN, assert_error, queued_message
from tests.support.profiles import add_app

LOGIN_OK = {"eventName": "user_login", "userId": 1}
LOGIN_BAD = {"eventName": "user_login", "userId": "x"}  # userId must be an integer
UNPLANNED = {"eventName": "checkout_started"}


def _store(flask_app, key: str, runs: list[tuple[str, int, list[dict]]]) -> None:
    """Store each run's events `minutes_ago` minutes ago, in the order given."""
    now = utcnow()
    messages = []
    for run, minutes_ago, raws in runs:
        for n, raw in enumerate(raws):
            message = queued_message(flask_app, key, {**raw, "context": {"testRun": run}})
            at = now - timedelta(minutes=minutes_ago, seconds=-n)
            message["received_at"] = at.isoformat()
            messages.append(message)
    with flask_app.app_context():
        store_events(messages)


def test_runs_are_listed_newest_first_with_counts_and_pages(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    other = add_app(any_app, name="other", plan=DEMO_PLAN)
    _store(
        any_app,
        shop.app.write_key,
        [
            ("nightly-1", 50, [LOGIN_OK] * 3),
            ("pr-7", 30, [LOGIN_OK, LOGIN_BAD, LOGIN_BAD, UNPLANNED]),
            ("pr-8", 10, [LOGIN_OK, LOGIN_OK]),
        ],
    )
    _store(any_app, other.app.write_key, [("theirs", 5, [LOGIN_OK])])  # another app's run
    client = any_app.test_client()
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    url = f"/api/apps/{shop.app.id}/test-runs"

    answer = client.get(url, headers=auth)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    runs = answer.json["test_runs"]
    assert [(r["test_run"], r["status"], r["total"], r["counts"]) for r in runs] == [
        ("pr-8", "PASSED", 2, {"valid": 2, "invalid": 0, "unplanned": 0}),
        ("pr-7", "FAILED", 4, {"valid": 1, "invalid": 2, "unplanned": 1}),
        ("nightly-1", "PASSED", 3, {"valid": 3, "invalid": 0, "unplanned": 0}),
    ]
    assert answer.json["next_cursor"] is None
    pr7 = runs[1]
    assert pr7["first_at"] < pr7["last_at"]  # the first and the fourth event, 3 s apart
    assert (pr7["last_at"][:19] > runs[2]["last_at"][:19]) and pr7["first_at"].endswith("Z")

    first = client.get(url + "?limit=2", headers=auth).json
    assert [r["test_run"] for r in first["test_runs"]] == ["pr-8", "pr-7"]
    rest = client.get(url + f"?limit=2&cursor={first['next_cursor']}", headers=auth).json
    assert [r["test_run"] for r in rest["test_runs"]] == ["nightly-1"]
    assert rest["next_cursor"] is None

    # A run that sends again moves to the top.
    _store(any_app, shop.app.write_key, [("nightly-1", 0, [UNPLANNED])])
    again = client.get(url, headers=auth).json["test_runs"]
    assert [(r["test_run"], r["status"]) for r in again][:2] == [
        ("nightly-1", "FAILED"),
        ("pr-8", "PASSED"),
    ]


def test_an_app_without_runs_lists_none_and_bad_parameters_are_400(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    _store(any_app, shop.app.write_key, [])
    client = any_app.test_client()
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    url = f"/api/apps/{shop.app.id}/test-runs"
    assert client.get(url, headers=auth).json == {"test_runs": [], "next_cursor": None}
    for query in ("?cursor=nope", "?cursor=LTE", "?limit=0", "?limit=101", "?limit=x"):
        assert_error(client.get(url + query, headers=auth), 400, "invalid_parameter")


def test_the_report_groups_identical_violations_with_examples(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    bad_price = {"eventName": "purchase", "price": -1, "currency": "EUR"}
    _store(
        any_app,
        shop.app.write_key,
        [("pr-9", 5, [LOGIN_BAD] * 5 + [UNPLANNED] * 2 + [bad_price, LOGIN_OK])],
    )
    report = (
        any_app.test_client()
        .get("/api/test-runs/pr-9", headers={"Authorization": f"Bearer {shop.read_key}"})
        .json
    )
    assert report["status"] == "FAILED" and report["total"] == 9
    groups = [
        (g["count"], g["event_name"], g["status"], g["rule"], g["path"], len(g["examples"]))
        for g in report["violations"]
    ]
    assert groups == [
        (5, "user_login", "invalid", "type", "/properties/userId", 3),
        (2, "checkout_started", "unplanned", "unplanned", "/eventName", 2),
        (1, "purchase", "invalid", "minimum", "/properties/price", 1),
    ]
    first = report["violations"][0]
    assert first["message"] and all(e["payload"]["userId"] == "x" for e in first["examples"])
    assert len({e["id"] for e in first["examples"]}) == 3
    assert report["violations_partial"] is False
    assert len(report["failures"]) == 8  # every violating event is still listed, for CI
