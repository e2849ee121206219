"""Expectations of a test run through the API (`PUT /api/test-runs/expectations`, the report,
`POST /api/test-runs/close`, the run list), on SQLite and PostgreSQL, with events stored as a
worker stores them.

Bad inputs tried: malformed documents (each naming its field), a body that is not JSON, one over
64 KB, no run name, a name longer than any run's, changing a closed run, closing an unknown run;
and, as a property, documents of any shape (never a 500)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask import request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ingest.endpoint_steps import request_info
from app.models.types import utcnow
from app.services.ingestion.verdicts import prepare_sdk
from app.services.statistics import run_expectations
from app.services.storage.events import store_events
from app.validation import expectations
from tests.api.helpers import store
from tests.helpers import DEMO_PLAN, assert_error
from tests.support.profiles import add_app

LOGIN = {"eventName": "user_login", "userId": 1}
LOGIN_BAD = {"eventName": "user_login", "userId": "x"}  # userId must be an integer
SCREEN = {"eventName": "screen_view", "screen_name": "home"}
PAY = {"eventName": "purchase", "price": 10, "currency": "EUR"}
PAY_USD = {"eventName": "purchase", "price": 10, "currency": "USD"}
PROMO = {"eventName": "promo_shown"}  # unplanned


def _at(raw: dict[str, Any], stamp: str) -> dict[str, Any]:
    return {**raw, "timestamp": f"2026-12-04T12:00:{stamp}Z"}


# (kind, expectations, events that fail them, events that meet them, the result's id)
CASES = [
    ("missing event", {"expect": ["purchase"]}, [LOGIN], [LOGIN, PAY], "present:purchase"),
    (
        "forbidden event",
        {"forbid": ["promo_shown"], "allow_unplanned": True},
        [LOGIN, PROMO],
        [LOGIN],
        "absent:promo_shown",
    ),
    (
        "only expected",
        {"expect": ["user_login"], "only_expected": True},
        [LOGIN, SCREEN],
        [LOGIN, LOGIN],
        "only_expected",
    ),
    (
        "count bounds",
        {"expect": [{"event": "user_login", "min": 2, "max": 2}]},
        [LOGIN, LOGIN, LOGIN],
        [LOGIN, LOGIN],
        "count:user_login",
    ),
    (
        "property constraint",
        {"expect": [{"event": "purchase", "properties": {"currency": {"const": "EUR"}}}]},
        [PAY, PAY_USD],
        [PAY, PAY],
        "properties:purchase",
    ),
    (
        "order",
        {"order": ["user_login", "purchase"]},
        # Stored login first, but stamped after the purchase: the event time decides.
        [_at(LOGIN, "09"), _at(PAY, "05")],
        [_at(PAY, "09"), _at(LOGIN, "05")],
        "order",
    ),
    ("invalid not allowed", {}, [LOGIN_BAD], [LOGIN], "invalid"),
    ("invalid allowed", {"allow_invalid": True}, None, [LOGIN_BAD], "invalid"),
    ("unplanned not allowed", {}, [PROMO], [LOGIN], "unplanned"),
    ("unplanned allowed", {"allow_unplanned": True}, None, [PROMO], "unplanned"),
]


@pytest.fixture
def shop(any_app):
    return add_app(any_app, plan=DEMO_PLAN)


def _auth(shop) -> dict[str, str]:
    return {"Authorization": f"Bearer {shop.read_key}"}


def _put(client, shop, run: str, document: Any):
    return client.put(
        f"/api/test-runs/expectations?name={quote(run, safe='')}",
        json=document,
        headers=_auth(shop),
    )


def _report(client, shop, run: str) -> dict[str, Any]:
    answer = client.get(f"/api/test-runs?name={quote(run, safe='')}", headers=_auth(shop))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.json


def _send(any_app, shop, run: str, raws: list[dict[str, Any]], **kwargs) -> None:
    store(any_app, shop, [{**raw, "context": {"testRun": run}} for raw in raws], **kwargs)


def test_each_kind_fails_and_passes_through_the_api(any_app, shop):
    client = any_app.test_client()
    for kind, document, failing, passing, rid in CASES:
        for verdict, raws in (("fail", failing), ("pass", passing)):
            if raws is None:
                continue
            run = f"{kind}-{verdict}"
            saved = _put(client, shop, run, document)
            assert saved.status_code == 200, saved.get_data(as_text=True)
            assert saved.json["test_run"] == run
            _send(any_app, shop, run, raws)
            report = _report(client, shop, run)
            (result,) = [r for r in report["expectations"]["results"] if r["id"] == rid]
            met = verdict == "pass"
            assert result["met"] is met, (kind, result)
            assert report["expectations"]["met"] is met, (kind, report["expectations"])
            assert (report["passed"], report["status"]) == (met, "PASSED" if met else "FAILED")
            assert result["title"] and result["message"]
            if not met and rid not in ("present:purchase",):
                # The offending events are listed as /events shows them.
                assert result["events"] and all(e["test_run"] == run for e in result["events"])


def test_expectations_decide_the_verdict_over_the_default_rule(any_app, shop):
    client = any_app.test_client()
    _send(any_app, shop, "lenient", [LOGIN_BAD, PROMO])
    assert _report(client, shop, "lenient")["status"] == "FAILED"  # the default rule
    assert _put(client, shop, "lenient", {"allow_invalid": True, "allow_unplanned": True}).json
    report = _report(client, shop, "lenient")
    assert report["status"] == "PASSED" and report["counts"]["invalid"] == 1
    assert report["closed_at"] is None and report["late"] is None
    # A run without expectations says so.
    _send(any_app, shop, "plain", [LOGIN])
    plain = _report(client, shop, "plain")
    assert plain["expectations"] == {"met": None, "results": [], "partial": False}
    assert plain["status"] == "PASSED"


def test_expectations_made_before_any_event_make_the_run_known(any_app, shop):
    client = any_app.test_client()
    assert_error(client.get("/api/test-runs?name=early", headers=_auth(shop)), 404, "not_found")
    normalised = _put(client, shop, "early", {"expect": ["purchase"]}).json["expectations"]
    assert normalised["expect"] == [
        {"event": "purchase", "min": 1, "max": None, "properties": None}
    ]
    report = _report(client, shop, "early")
    assert (report["total"], report["first_at"], report["status"]) == (0, None, "FAILED")
    _send(any_app, shop, "early", [PAY])
    assert _report(client, shop, "early")["status"] == "PASSED"
    # Putting again replaces the document.
    assert _put(client, shop, "early", {"expect": [{"event": "purchase", "min": 2}]}).json
    assert _report(client, shop, "early")["status"] == "FAILED"


def test_closing_freezes_the_verdict_and_lists_late_events(any_app, shop):
    client = any_app.test_client()
    url = "/api/test-runs/close?name="
    assert_error(client.post(url + "never", headers=_auth(shop)), 404, "not_found")
    _put(client, shop, "gate", {"expect": [{"event": "user_login", "max": 1}]})
    _send(any_app, shop, "gate", [LOGIN], received_at=utcnow() - timedelta(seconds=5))
    closed = client.post(url + "gate", headers=_auth(shop))
    assert closed.status_code == 200, closed.get_data(as_text=True)
    closed_at = closed.json["closed_at"]
    assert closed_at and closed.json["status"] == "PASSED" and closed.json["late"]["count"] == 0

    # Events received after closing are stored, listed as late, and change nothing.
    _send(any_app, shop, "gate", [LOGIN, LOGIN_BAD], received_at=utcnow() + timedelta(seconds=5))
    report = _report(client, shop, "gate")
    assert (report["status"], report["total"], report["closed_at"]) == ("PASSED", 1, closed_at)
    # One received before the closing but stored after it (still queued) belongs to the run.
    before = datetime.fromisoformat(closed_at.replace("Z", "+00:00")) - timedelta(seconds=1)
    _send(any_app, shop, "gate", [SCREEN], received_at=before)
    report = _report(client, shop, "gate")
    assert (report["status"], report["total"], report["late"]["count"]) == ("PASSED", 2, 2)
    assert report["late"]["count"] == 2
    assert [e["status"] for e in report["late"]["events"]] == ["valid", "invalid"]
    # Closing again keeps the first time; a closed run's expectations cannot change.
    assert client.post(url + "gate", headers=_auth(shop)).json["closed_at"] == closed_at
    assert_error(_put(client, shop, "gate", {}), 409, "run_closed")

    # A run with events but no expectations can be closed too; the list shows both.
    _send(any_app, shop, "plain", [LOGIN], received_at=utcnow() - timedelta(seconds=5))
    assert client.post(url + "plain", headers=_auth(shop)).json["closed_at"]
    listed = client.get(f"/api/apps/{shop.app.id}/test-runs", headers=_auth(shop)).json
    by_name = {r["test_run"]: r for r in listed["test_runs"]}
    assert by_name["gate"]["closed_at"] == closed_at and by_name["gate"]["total"] == 2
    assert by_name["gate"]["expectations_met"] is True
    assert by_name["plain"]["expectations_met"] is None and by_name["plain"]["closed_at"]


def test_the_list_shows_whether_expectations_are_met(any_app, shop):
    client = any_app.test_client()
    _put(client, shop, "short", {"expect": [{"event": "user_login", "min": 3}]})
    _send(any_app, shop, "short", [LOGIN])
    listed = client.get(f"/api/apps/{shop.app.id}/test-runs", headers=_auth(shop)).json
    [run] = listed["test_runs"]
    assert (run["expectations_met"], run["status"], run["closed_at"]) == (False, "FAILED", None)


BAD_DOCUMENTS = [
    ({"expect": [{"event": "purchase", "min": 3, "max": 1}]}, "expect[0].max"),
    ({"forbid": "promo"}, "forbid"),
    ({"nothing_else": True}, "nothing_else"),
    ({"expect": [{"event": "a", "properties": {"p": {"pattern": "(a+)+\\1"}}}]}, "expect[0]"),
    ([], "JSON object"),
]


def test_bad_documents_are_400_naming_the_field(any_app, shop):
    client = any_app.test_client()
    for document, field in BAD_DOCUMENTS:
        body = assert_error(_put(client, shop, "r", document), 400, "invalid_expectations")
        assert field in body["message"], body
    raw = client.put(
        "/api/test-runs/expectations?name=r",
        data=b"{expect",
        headers={**_auth(shop), "Content-Type": "application/json"},
    )
    assert_error(raw, 400)
    huge = {"forbid": ["x" * 200] * 400}
    assert_error(_put(client, shop, "r", huge), 413)
    assert_error(
        client.put("/api/test-runs/expectations", json={}, headers=_auth(shop)),
        400,
        "invalid_parameter",
    )
    assert_error(_put(client, shop, "n" * 256, {}), 400, "invalid_parameter")
    assert_error(client.put("/api/test-runs/expectations?name=r", json={}), 401, "unauthorized")
    # Nothing was stored by any of them.
    assert_error(client.get("/api/test-runs?name=r", headers=_auth(shop)), 404)


@pytest.mark.parametrize("any_app", ["micro"], indirect=True)
def test_no_document_gives_a_server_error(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    client = any_app.test_client()
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
    keys = st.sampled_from(["expect", "forbid", "order", "only_expected", "min", "properties"])
    entries = st.fixed_dictionaries(
        {"event": st.text(max_size=3)},
        optional={"min": json_values, "max": json_values, "properties": json_values},
    )
    documents = json_values | st.dictionaries(
        keys, json_values | st.lists(entries | st.text(max_size=3), max_size=3), max_size=4
    )

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(documents)
    def put(document):
        answer = _put(client, shop, "fuzz", document)
        assert answer.status_code in (200, 400, 413), answer.get_data(as_text=True)
        if answer.status_code != 200:
            assert_error(answer, answer.status_code)
        else:
            assert _report(client, shop, "fuzz")["expectations"]["met"] in (True, False)

    put()


def _store_sdk(any_app, shop, run: str, messages: list[dict[str, Any]]) -> None:
    """Store Segment-format messages as a worker would (their properties live elsewhere)."""
    with any_app.test_request_context():
        entry = any_app.extensions["app_directory"].lookup(shop.app.write_key)
        info = request_info(entry, shop.app.write_key, request)
        queued = [
            prepare_sdk({**m, "context": {"testRun": run}}, info).message.to_dict()
            for m in messages
        ]
    with any_app.app_context():
        assert store_events(queued) == len(queued)


def test_sdk_messages_are_checked_on_their_properties_and_traits(any_app, shop):
    client = any_app.test_client()
    document = {
        "expect": [
            {"event": "purchase", "properties": {"currency": {"const": "EUR"}}},
            {"event": "identify", "properties": {"plan": {"enum": ["pro"]}}},
            {"event": "Home", "properties": {"path": {"const": "/"}}},
        ],
        "allow_unplanned": True,
    }
    _put(client, shop, "sdk", document)
    _store_sdk(
        any_app,
        shop,
        "sdk",
        [
            {
                "type": "track",
                "event": "purchase",
                "userId": "u1",
                "properties": {"price": 1, "currency": "EUR"},
            },
            {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
            {
                "type": "track",
                "event": "purchase",
                "userId": "u1",
                "properties": {"price": 1, "currency": "USD"},
            },
            {"type": "page", "name": "Home", "userId": "u1", "properties": {"path": "/"}},
        ],
    )
    results = {r["id"]: r for r in _report(client, shop, "sdk")["expectations"]["results"]}
    # Traits (identify) and a page's properties are what is checked.
    assert results["properties:identify"]["met"] is True
    assert results["properties:Home"]["met"] is True
    purchase = results["properties:purchase"]
    assert purchase["met"] is False and 'got "USD"' in purchase["message"]
    assert [e["payload"]["properties"]["currency"] for e in purchase["events"]] == ["USD"]


def test_a_run_over_the_read_bound_is_counted_whole_and_says_partial(any_app, shop, monkeypatch):
    monkeypatch.setattr(run_expectations, "MAX_CHECKED", 2)
    client = any_app.test_client()
    _put(client, shop, "big", {"expect": [{"event": "user_login", "max": 2}], "order": ["x"]})
    _send(any_app, shop, "big", [LOGIN, LOGIN, LOGIN])
    checked = _report(client, shop, "big")["expectations"]
    assert checked["partial"] is True
    count = next(r for r in checked["results"] if r["id"] == "count:user_login")
    assert count["message"] == "seen 3 times"  # the counts cover every event
    _put(client, shop, "small", {"expect": ["user_login"]})
    _send(any_app, shop, "small", [LOGIN, LOGIN])
    assert _report(client, shop, "small")["expectations"]["partial"] is False


def test_runs_waiting_for_their_first_event_head_the_first_page(any_app, shop):
    client = any_app.test_client()
    url = f"/api/apps/{shop.app.id}/test-runs"
    _send(any_app, shop, "older", [LOGIN])
    _send(any_app, shop, "old", [LOGIN])  # stored last: the most recently active
    _put(client, shop, "waiting-1", {"expect": ["purchase"]})
    _put(client, shop, "waiting-2", {})
    listed = client.get(url, headers=_auth(shop)).json
    assert [
        (r["test_run"], r["total"], r["first_at"], r["expectations_met"], r["status"])
        for r in listed["test_runs"]
    ] == [
        ("waiting-2", 0, None, True, "PASSED"),
        ("waiting-1", 0, None, False, "FAILED"),
        ("old", 1, listed["test_runs"][2]["first_at"], None, "PASSED"),
        ("older", 1, listed["test_runs"][3]["first_at"], None, "PASSED"),
    ]
    # Pages of two: the waiting runs fill the first, the cursor goes on to the runs with events.
    first = client.get(url + "?limit=2", headers=_auth(shop)).json
    assert [r["test_run"] for r in first["test_runs"]] == ["waiting-2", "waiting-1"]
    second = client.get(url + f"?limit=2&cursor={first['next_cursor']}", headers=_auth(shop)).json
    assert [r["test_run"] for r in second["test_runs"]] == ["old", "older"]
    assert second["next_cursor"] is None
    # Its first event moves a run among the others.
    _send(any_app, shop, "waiting-1", [PAY])
    again = client.get(url, headers=_auth(shop)).json["test_runs"]
    assert [r["test_run"] for r in again] == ["waiting-2", "waiting-1", "old", "older"]
    assert again[1]["total"] == 1 and again[1]["status"] == "PASSED"


def test_a_report_checks_properties_within_its_budget_and_the_list_agrees(
    any_app, shop, monkeypatch
):
    """However many events and constraints, one report makes at most MAX_PROPERTY_CHECKS
    property checks; the rest is `partial`. The run list checks each run as its report does
    (a list that says PASSED for a run whose report says FAILED would be worse than slow)."""
    monkeypatch.setattr(expectations, "MAX_PROPERTY_CHECKS", 3)
    client = any_app.test_client()
    document = {"expect": [{"event": "purchase", "properties": {"currency": {"const": "EUR"}}}]}
    _put(client, shop, "small", document)
    _send(any_app, shop, "small", [PAY_USD])  # fails within the budget
    _put(client, shop, "big", document)
    # The USD purchase comes fourth: past the three checks a report may make.
    _send(any_app, shop, "big", [PAY, PAY, PAY, PAY_USD])
    report = _report(client, shop, "big")
    (result,) = [r for r in report["expectations"]["results"] if r["kind"] == "properties"]
    assert result["met"] is True and "1 not checked" in result["message"]
    assert report["expectations"]["partial"] is True
    listed = client.get(f"/api/apps/{shop.app.id}/test-runs", headers=_auth(shop)).json
    met = {r["test_run"]: r["expectations_met"] for r in listed["test_runs"]}
    assert met == {"big": True, "small": False}
    assert _report(client, shop, "small")["expectations"]["met"] is False
    monkeypatch.setattr(expectations, "MAX_PROPERTY_CHECKS", 4)
    assert _report(client, shop, "big")["expectations"]["met"] is False
