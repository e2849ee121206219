"""What a write key's holder can send that no database column could hold: refused at the door
(400 alone, `rejected` in its batch slot, naming the field), never a 500, never queued.

Tried: NUL and lone surrogates in every column derived from `context` (the event's own, and a
`/v1/batch` body's shared one) and in userId; `1e400`; times outside 1900..2999 (UTC) in
`timestamp` and `sentAt` (the event's and the batch's); a clock correction landing outside the
range; a NUL in the X-Test-Run header; versions like `1.²` in the overview and regressions."""

from __future__ import annotations

import json

import pytest

from app.services.statistics.aggregates import count_new_events
from app.services.statistics.regressions import app_versions
from app.services.storage.events import store_events
from tests.helpers import DEMO_PLAN, assert_error, queue_length, queued_events
from tests.support.profiles import add_app

# Each derived column, as a context fragment holding `value`, and the field an error names.
DERIVED = [
    (lambda v: {"testRun": v}, "context.testRun"),
    (lambda v: {"app": {"version": v}}, "context.app.version"),
    (lambda v: {"os": {"name": v}}, "context.os.name"),
    (lambda v: {"device": {"id": v}}, "context.device.id"),
    (lambda v: {"library": {"name": v}}, "context.library.name"),
    (lambda v: {"library": {"version": v}}, "context.library.version"),
]
NUL, SURROGATE = '"a\\u0000b"', '"a\\ud800b"'  # as JSON text: escapes the parser accepts
FAR = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31T23:59:59Z"]


def _json_with(fragment, raw_value: str) -> str:
    """JSON text of a context fragment whose innermost value is `raw_value` (JSON text)."""
    return json.dumps(fragment("@@")).replace('"@@"', raw_value)


def _sdk_batch(key: str, context_json: str) -> str:
    """A /v1/batch body: a message using the batch's context, and one with its own."""
    return (
        f'{{"writeKey": "{key}", "context": {context_json}, "batch": ['
        '{"type": "track", "event": "user_login", "properties": {"userId": 1}},'
        '{"type": "track", "event": "user_login", "properties": {"userId": 2},'
        ' "context": {"testRun": "fine"}}]}'
    )


@pytest.mark.parametrize("value", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize("fragment,field", DERIVED, ids=[f for _, f in DERIVED])
def test_a_batch_context_no_column_holds_rejects_the_events_using_it(
    full_app, fragment, field, value
):
    shop = add_app(full_app, plan=DEMO_PLAN)
    answer = full_app.test_client().post(
        "/v1/batch",
        data=_sdk_batch(shop.app.write_key, _json_with(fragment, value)),
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    first, second = answer.json["results"]
    assert first["status"] == "rejected" and first["errors"][0]["field"] == field
    assert second["status"] == "valid"  # its own context: stored
    assert answer.json["counts"]["rejected"] == 1
    [queued] = queued_events(full_app)
    assert queued["task_id"] == second["task_id"] and queued["test_run"] == "fine"


@pytest.mark.parametrize("value", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize("fragment,field", DERIVED, ids=[f for _, f in DERIVED])
def test_an_event_context_no_column_holds_is_a_400(any_app, fragment, field, value):
    shop = add_app(any_app, plan=DEMO_PLAN)
    body = f'{{"eventName": "user_login", "userId": 1, "context": {_json_with(fragment, value)}}}'
    answer = any_app.test_client().post(
        f"/api/logs/{shop.app.write_key}", data=body, content_type="application/json"
    )
    assert answer.status_code == 400 and answer.json["code"] in (
        "nul_character",
        "invalid_unicode",
    )
    assert queued_events(any_app) == []


@pytest.mark.parametrize(
    "path,body",
    [
        ("/api/logs/{key}", '{"eventName": "user_login", "userId": 1, "big": 1e400}'),
        ("/v1/track", '{"writeKey": "{key}", "event": "e", "properties": {"n": -1e400}}'),
    ],
)
def test_a_number_beyond_a_double_is_a_400_not_a_500(any_app, path, body):
    shop = add_app(any_app, plan=DEMO_PLAN)
    key = shop.app.write_key
    answer = any_app.test_client().post(
        path.replace("{key}", key),
        data=body.replace("{key}", key),
        content_type="application/json",
    )
    assert_error(answer, 400, "non_finite_number")


def test_a_number_beyond_a_double_rejects_only_its_batch_slot(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    key = shop.app.write_key
    body = (
        '{"events": [{"eventName": "user_login", "userId": 1},'
        ' {"eventName": "user_login", "userId": 1e400},'
        ' {"eventName": "user_login", "userId": 3}]}'
    )
    client = any_app.test_client()
    answer = client.post(f"/api/logs/{key}/batch", data=body, content_type="application/json")
    assert answer.status_code == 202
    assert [r["status"] for r in answer.json["results"]] == ["valid", "rejected", "valid"]
    assert answer.json["results"][1]["code"] == "non_finite_number"
    sdk = (
        f'{{"writeKey": "{key}", "batch": [{{"type": "track", "event": "e", "properties":'
        ' {"n": 1e999}}, {"type": "identify", "userId": "u"}]}'
    )
    answer = client.post("/v1/batch", data=sdk, content_type="application/json")
    assert answer.status_code == 200
    assert [r["status"] for r in answer.json["results"]] == ["rejected", "valid"]
    assert len(queued_events(any_app)) == 3


@pytest.mark.parametrize("when", FAR)
@pytest.mark.parametrize("field", ["timestamp", "sentAt"])
def test_a_time_outside_the_range_is_a_400_naming_its_field(any_app, when, field):
    shop = add_app(any_app, plan=DEMO_PLAN)
    answer = any_app.test_client().post(
        f"/api/logs/{shop.app.write_key}",
        json={"eventName": "user_login", "userId": 1, field: when},
    )
    assert_error(answer, 400, "invalid_event")
    assert answer.json["errors"] == [
        {"field": field, "message": "must lie from 1900-01-01 to 2999-12-31 (UTC)"}
    ]
    assert queued_events(any_app) == []


def test_a_batch_sent_at_outside_the_range_rejects_the_messages_using_it(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    body = {
        "writeKey": shop.app.write_key,
        "sentAt": "0001-01-01T00:00:00+14:00",
        "batch": [
            {"type": "identify", "userId": "u1"},
            {"type": "identify", "userId": "u2", "sentAt": "2026-12-04T10:00:00Z"},
        ],
    }
    answer = any_app.test_client().post("/v1/batch", json=body)
    first, second = answer.json["results"]
    assert first["status"] == "rejected" and first["errors"][0]["field"] == "sentAt"
    assert second["status"] == "valid"


def test_a_clock_correction_outside_the_range_keeps_the_clients_time(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    event = {
        "eventName": "user_login",
        "userId": 1,
        "timestamp": "1900-01-02T00:00:00Z",
        "sentAt": "2999-12-30T00:00:00Z",  # received now - 1100 years: year ~926
    }
    answer = any_app.test_client().post(f"/api/logs/{shop.app.write_key}", json=event)
    assert answer.status_code == 202
    [queued] = queued_events(any_app)
    assert queued["timestamp"] == "1900-01-02T00:00:00+00:00"


def test_a_test_run_header_with_a_nul_is_a_400(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    answer = any_app.test_client().post(
        f"/api/logs/{shop.app.write_key}",
        json={"eventName": "user_login", "userId": 1},
        headers={"X-Test-Run": "a\x00b"},
    )
    assert_error(answer, 400, "invalid_header")
    assert queue_length(any_app) == 0


def test_versions_that_only_look_numeric_do_not_break_the_overview(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    client = any_app.test_client()
    for n, version in enumerate(["1.²", "1.10", "1.9", "1.١", "2"]):
        event = {"eventName": "user_login", "userId": n, "context": {"app": {"version": version}}}
        assert client.post(f"/api/logs/{shop.app.write_key}", json=event).status_code == 202
    with any_app.app_context():
        store_events(queued_events(any_app))
        for _ in range(2):  # PostgreSQL counts one run behind
            count_new_events()
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    report = client.get(f"/api/apps/{shop.app.id}/regressions?base=1.²&head=1.10", headers=auth)
    assert report.status_code == 200, report.get_data(as_text=True)
    with any_app.app_context():
        versions = app_versions(shop.app.id)
    assert sorted(versions) == sorted(["1.²", "1.10", "1.9", "1.١", "2"])
    assert versions.index("2") < versions.index("1.10") < versions.index("1.9")


# A plan any shop might have, and an integer a float division cannot hold (OverflowError).
PRICE_PLAN = {
    "events": {
        "purchase": {
            "type": "object",
            "properties": {"price": {"type": "number", "minimum": 0, "multipleOf": 0.03}},
        }
    }
}
NINES = "9" * 400  # a multiple of 0.03; NINES + 1 is not


def test_a_huge_integer_against_a_float_multiple_of_is_judged_not_a_500(any_app):
    key = add_app(any_app, plan=PRICE_PLAN).app.write_key
    client = any_app.test_client()
    for price, status in ((NINES, "valid"), ("1" + "0" * 400, "invalid")):
        body = f'{{"eventName": "purchase", "price": {price}}}'
        answer = client.post(f"/api/logs/{key}", data=body, content_type="application/json")
        assert answer.status_code == 202, answer.get_data(as_text=True)[:300]
        assert answer.json["status"] == status
    body = (
        '{"events": [{"eventName": "purchase", "price": 1.5},'
        f' {{"eventName": "purchase", "price": {NINES}, "n": 2}},'
        ' {"eventName": "purchase", "price": 0.07}]}'
    )
    answer = client.post(f"/api/logs/{key}/batch", data=body, content_type="application/json")
    assert answer.status_code == 202, answer.get_data(as_text=True)[:300]
    assert [r["status"] for r in answer.json["results"]] == ["valid", "valid", "invalid"]
    sdk = (
        f'{{"writeKey": "{key}", "batch": [{{"type": "track", "event": "purchase",'
        f' "properties": {{"price": {NINES}, "n": 3}}}}, {{"type": "identify", "userId": "u"}}]}}'
    )
    answer = client.post("/v1/batch", data=sdk, content_type="application/json")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert [r["status"] for r in answer.json["results"]] == ["valid", "valid"]
    assert len(queued_events(any_app)) == 2 + 3 + 2
