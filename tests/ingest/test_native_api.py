"""Native ingestion: `POST /api/logs/<app_key>` and `POST /api/logs/<app_key>/batch`.

Most tests run on both profiles (`any_app`): micro (SQLite, filesystem broker) and full
(PostgreSQL, Redis). No worker runs, so what ingestion queued is read back from the broker
itself: the Redis list `default` (full) or the `*.default.msg` files of the broker folder
(micro), decoded from kombu's JSON envelope. That checks the messages a worker would store.

Bad inputs tried (each answered with a JSON error body, nothing queued):
  unknown write key; a body that is not JSON; JSON that is an array, number, string or null;
  no / empty / 256-character / non-string / null eventName; messageId that is not a string or
  is empty; a timestamp that is no date; a context that is not an object; NaN, Infinity and
  -Infinity literals; duplicate object keys; trailing data after the object; invalid and
  overlong UTF-8; lone surrogate escapes in a name, a value and a key; an empty and an all-blank
  body; 100,000 levels of arrays and of objects; a UTF-8 BOM; application/xml, text/html,
  multipart/form-data and charset=latin-1 media types; br and deflate encodings; a 600 KB
  body; an event over 32 KB (also in multi-byte characters); a 50 MB gzip bomb (~50 KB on the
  wire); gzip that is not gzip, has a broken CRC or is cut short; absurd client clocks;
  nesting just under the parser's limit; a NUL character in the event name (PostgreSQL).
In batches: non-object slots, slots without eventName, oversized slots, 2,501 events, an object
without `events`, `events` that is not a list.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from app.services.ingestion.event_stream import STREAM
from tests.helpers import assert_error, queue_length, queued_events
from tests.support.profiles import add_app

DEMO_PLAN = json.loads(
    (Path(__file__).resolve().parents[2] / "app" / "validation" / "demo_plan.json").read_text()
)
ANSWER_KEYS = {"event_name", "status", "task_id", "payload_hash", "errors", "message"}
QUEUED = "Event queued for processing"
MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024


# --- helpers ---------------------------------------------------------------------------------


def canonical_hash(obj: Any) -> str:
    """The contract's payload hash, computed independently of the app's code."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def log_url(key: str) -> str:
    return f"/api/logs/{key}"


def batch_url(key: str) -> str:
    return f"/api/logs/{key}/batch"


@pytest.fixture
def demo(any_app):
    """An app with the demo plan (version 1) on the profile under test."""
    return add_app(any_app, plan=DEMO_PLAN)


@pytest.fixture
def client(any_app):
    return any_app.test_client()


# --- a single event: the answer ----------------------------------------------------------------


def test_answer_has_exactly_the_contract_keys(any_app, client, demo):
    event = {"eventName": "user_login", "userId": 123}
    response = client.post(log_url(demo.app.write_key), json=event)
    assert response.status_code == 202
    assert response.mimetype == "application/json"
    answer = response.get_json()
    assert set(answer) == ANSWER_KEYS
    assert answer["event_name"] == "user_login"
    assert answer["status"] == "valid"
    assert answer["errors"] == []
    assert answer["message"] == QUEUED
    assert str(uuid.UUID(answer["task_id"])) == answer["task_id"]
    assert answer["payload_hash"] == canonical_hash(event)


def test_payload_hash_covers_the_whole_object_with_unicode(client, demo):
    event = {
        "eventName": "screen_view",
        "screen_name": "Größe 🎉",
        "context": {"app": {"version": "1.0"}},
        "nested": {"b": [1, 2.5, None, True], "a": "x"},
    }
    answer = client.post(log_url(demo.app.write_key), json=event).get_json()
    assert answer["payload_hash"] == canonical_hash(event)


def test_key_order_does_not_change_the_hash(client, demo):
    first = b'{"eventName":"user_login","userId":7,"method":"email"}'
    second = b'{ "method" : "email",\n "userId": 7, "eventName": "user_login" }'
    one = client.post(log_url(demo.app.write_key), data=first, content_type="application/json")
    two = client.post(log_url(demo.app.write_key), data=second, content_type="application/json")
    assert one.json["payload_hash"] == two.json["payload_hash"]
    assert one.json["payload_hash"] == canonical_hash(json.loads(first))
    # Same hash and no messageId: the second is the same event, so it is a duplicate.
    assert two.json["status"] == "duplicate"


def test_accepted_event_is_queued_as_is(any_app, client, demo):
    event = {"eventName": "user_login", "userId": 123, "method": "apple"}
    answer = client.post(log_url(demo.app.write_key), json=event).get_json()
    [message] = queued_events(any_app)
    assert message["task_id"] == answer["task_id"]
    assert message["app_id"] == demo.app.id
    assert message["event_name"] == "user_login"
    assert message["status"] == "valid"
    assert message["payload"] == event
    assert message["payload_hash"] == answer["payload_hash"]
    assert message["plan_version"] == 1


# --- verdicts against the demo plan ------------------------------------------------------------


def post_verdict(client, app, event: dict[str, Any]) -> dict[str, Any]:
    response = client.post(log_url(app.app.write_key), json=event)
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()


def test_valid_demo_event(client, demo):
    answer = post_verdict(client, demo, {"eventName": "user_login", "userId": 123})
    assert (answer["status"], answer["errors"]) == ("valid", [])


def test_wrong_type_is_invalid_with_a_type_violation(client, demo):
    answer = post_verdict(client, demo, {"eventName": "user_login", "userId": "abc"})
    assert answer["status"] == "invalid"
    [violation] = answer["errors"]
    message = violation.pop("message")
    assert isinstance(message, str) and "userId" in message
    assert violation == {
        "path": "/properties/userId",
        "rule": "type",
        "expected": "integer",
        "actual": "abc",
        "plan_version": 1,
    }


def test_missing_required_property_is_reported_at_its_own_path(client, demo):
    answer = post_verdict(client, demo, {"eventName": "purchase", "price": 9.5})
    assert answer["status"] == "invalid"
    [violation] = answer["errors"]
    assert violation["path"] == "/properties/currency"
    assert violation["rule"] == "required"
    assert violation["plan_version"] == 1


def test_nested_array_items_are_reported_with_their_index(client, demo):
    event = {
        "eventName": "purchase",
        "price": 5,
        "currency": "EUR",
        "items": [{"quantity": 0}, {"sku": "B-2", "quantity": 1}, {"sku": 3}],
    }
    answer = post_verdict(client, demo, event)
    assert answer["status"] == "invalid"
    found = {(v["path"], v["rule"]) for v in answer["errors"]}
    assert found == {
        ("/properties/items/0/sku", "required"),
        ("/properties/items/0/quantity", "minimum"),
        ("/properties/items/2/sku", "type"),
    }


def test_several_violations_are_all_reported(client, demo):
    event = {"eventName": "purchase", "price": -1, "currency": "euro"}
    answer = post_verdict(client, demo, event)
    rules = {(v["path"], v["rule"], json.dumps(v["actual"])) for v in answer["errors"]}
    assert rules == {
        ("/properties/price", "minimum", "-1"),
        ("/properties/currency", "pattern", '"euro"'),
    }


def test_unplanned_event_is_flagged_at_event_name(client, demo):
    answer = post_verdict(client, demo, {"eventName": "checkout_started", "step": 1})
    assert answer["status"] == "unplanned"
    assert answer["task_id"] is not None
    [violation] = answer["errors"]
    assert violation["path"] == "/eventName"
    assert violation["rule"] == "unplanned"
    assert violation["actual"] == "checkout_started"
    assert violation["plan_version"] == 1


def test_blocked_unplanned_event_is_answered_but_not_queued(any_app, client):
    shop = add_app(any_app, plan={**DEMO_PLAN, "unplanned_events": "block"})
    before = queue_length(any_app)
    response = client.post(log_url(shop.app.write_key), json={"eventName": "not_in_plan"})
    assert response.status_code == 202
    answer = response.get_json()
    assert answer["blocked"] is True
    assert answer["status"] == "unplanned"
    assert answer["task_id"] is None
    assert answer["errors"][0]["rule"] == "unplanned"
    assert queue_length(any_app) == before
    # A planned event of the same app still goes through.
    post_verdict(client, shop, {"eventName": "user_login", "userId": 1})
    assert queue_length(any_app) == before + 1


def test_blocked_event_on_full_profile_leaves_redis_queue_unchanged(full_app):
    shop = add_app(full_app, plan={"events": {}, "unplanned_events": "block"})
    with redis.Redis.from_url(full_app.config["REDIS_URL"]) as client:
        before = client.xlen(STREAM), client.llen("default")
        response = full_app.test_client().post(log_url(shop.app.write_key), json={"eventName": "x"})
        assert response.json["blocked"] is True
        assert (client.xlen(STREAM), client.llen("default")) == before


def test_user_id_is_a_property_validated_by_the_plan(any_app, client, demo):
    # Required by the demo plan: leaving it out is a violation ...
    answer = post_verdict(client, demo, {"eventName": "user_login", "method": "email"})
    assert [(v["path"], v["rule"]) for v in answer["errors"]] == [
        ("/properties/userId", "required")
    ]
    # ... and it is also kept as the user id.
    post_verdict(client, demo, {"eventName": "user_login", "userId": 123})
    assert queued_events(any_app)[-1]["user_id"] == "123"


def test_only_envelope_fields_are_not_properties(client, any_app):
    strict = add_app(
        any_app,
        plan={
            "events": {"e": {"type": "object", "properties": {"n": {"type": "integer"}}}},
            "additional_properties": "flag",
        },
    )
    envelope = {
        "eventName": "e",
        "messageId": "m-1",
        "timestamp": "2024-01-01T00:00:00Z",
        "sentAt": "2024-01-01T00:00:01Z",
        "context": {"app": {"version": "1"}},
    }
    assert post_verdict(client, strict, envelope)["status"] == "valid"
    answer = post_verdict(client, strict, {"eventName": "e", "userId": 5, "anonymousId": "a"})
    assert answer["status"] == "invalid"
    assert {(v["path"], v["rule"]) for v in answer["errors"]} == {
        ("/properties/userId", "additionalProperties"),
        ("/properties/anonymousId", "additionalProperties"),
    }


@pytest.mark.parametrize(
    "name",
    [
        'he said "hi"',
        "'; DROP TABLE events; --",
        "<script>alert(1)</script>",
        "ünïcødé 事件 🎉",
        "a" * 255,
        "🎉" * 255,  # 255 characters, 1020 bytes
        "tab\there\nnewline",
    ],
    ids=["quotes", "sql", "markup", "unicode", "255-ascii", "255-emoji", "control-chars"],
)
def test_event_names_are_data_and_echoed_exactly(any_app, client, name):
    shop = add_app(any_app, plan={"events": {name: {"type": "object"}}})
    response = client.post(log_url(shop.app.write_key), json={"eventName": name})
    assert response.status_code == 202
    assert response.json["event_name"] == name
    assert response.json["status"] == "valid"
    assert queued_events(any_app)[0]["event_name"] == name


def test_unplanned_odd_name_is_echoed_in_the_violation(client, demo):
    name = "<img src=x onerror=alert(1)>'\""
    answer = post_verdict(client, demo, {"eventName": name})
    assert answer["event_name"] == name
    assert answer["errors"][0]["actual"] == name


# --- dedup -------------------------------------------------------------------------------------


def test_same_event_twice_is_a_duplicate_of_the_first(any_app, client, demo):
    event = {"eventName": "user_login", "userId": 9}
    first = post_verdict(client, demo, event)
    second = post_verdict(client, demo, event)
    assert first["status"] == "valid"
    assert second["status"] == "duplicate"
    assert second["task_id"] == first["task_id"]
    assert second["payload_hash"] == first["payload_hash"]
    assert queue_length(any_app) == 1


def test_same_message_id_with_other_content_is_a_duplicate(any_app, client, demo):
    first = post_verdict(client, demo, {"eventName": "user_login", "userId": 1, "messageId": "m"})
    second = post_verdict(client, demo, {"eventName": "purchase", "price": 1, "messageId": "m"})
    assert second["status"] == "duplicate"
    assert second["task_id"] == first["task_id"]
    assert second["payload_hash"] != first["payload_hash"]
    assert [m["task_id"] for m in queued_events(any_app)] == [first["task_id"]]


def test_different_message_ids_with_same_content_are_both_accepted(any_app, client, demo):
    first = post_verdict(client, demo, {"eventName": "user_login", "userId": 1, "messageId": "a"})
    second = post_verdict(client, demo, {"eventName": "user_login", "userId": 1, "messageId": "b"})
    assert first["status"] == second["status"] == "valid"
    assert first["task_id"] != second["task_id"]
    assert queue_length(any_app) == 2


def test_without_message_id_different_content_is_not_a_duplicate(any_app, client, demo):
    first = post_verdict(client, demo, {"eventName": "user_login", "userId": 1})
    second = post_verdict(client, demo, {"eventName": "user_login", "userId": 2})
    assert second["status"] == "valid"
    assert first["task_id"] != second["task_id"]
    assert queue_length(any_app) == 2


def test_dedup_is_per_app(any_app, client, demo):
    other = add_app(any_app, name="other", plan=DEMO_PLAN)
    event = {"eventName": "user_login", "userId": 1, "messageId": "shared"}
    one = post_verdict(client, demo, event)
    two = post_verdict(client, other, event)
    assert one["status"] == two["status"] == "valid"
    assert one["task_id"] != two["task_id"]


def test_duplicate_pair_adds_one_message_to_redis(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    client = full_app.test_client()
    event = {"eventName": "user_login", "userId": 3, "messageId": "once"}
    with redis.Redis.from_url(full_app.config["REDIS_URL"]) as queue:
        before = queue.llen("default")
        client.post(log_url(shop.app.write_key), json=event)
        client.post(log_url(shop.app.write_key), json=event)
        assert queue.llen("default") == before + 1


# --- whole-request errors ----------------------------------------------------------------------

JSON = "application/json"
NESTED_ARRAYS = b"[" * 100_000
NESTED_OBJECTS = b'{"a":' * 100_000
ERROR_CASES = [
    # (id, body bytes, content type, extra headers, status, code)
    ("not-json", b"hello", JSON, {}, 400, "invalid_json"),
    ("array", b'[{"eventName":"a"}]', JSON, {}, 400, "not_an_object"),
    ("number", b"42", JSON, {}, 400, "not_an_object"),
    ("string", b'"user_login"', JSON, {}, 400, "not_an_object"),
    ("null", b"null", JSON, {}, 400, "not_an_object"),
    ("no-event-name", b'{"userId":1}', JSON, {}, 400, "invalid_event"),
    ("empty-event-name", b'{"eventName":""}', JSON, {}, 400, "invalid_event"),
    ("long-event-name", b'{"eventName":"' + b"a" * 256 + b'"}', JSON, {}, 400, "invalid_event"),
    ("number-event-name", b'{"eventName":42}', JSON, {}, 400, "invalid_event"),
    ("null-event-name", b'{"eventName":null}', JSON, {}, 400, "invalid_event"),
    ("list-event-name", b'{"eventName":["a"]}', JSON, {}, 400, "invalid_event"),
    ("number-message-id", b'{"eventName":"a","messageId":5}', JSON, {}, 400, "invalid_event"),
    ("empty-message-id", b'{"eventName":"a","messageId":""}', JSON, {}, 400, "invalid_event"),
    ("bad-timestamp", b'{"eventName":"a","timestamp":"soon"}', JSON, {}, 400, "invalid_event"),
    ("context-list", b'{"eventName":"a","context":[]}', JSON, {}, 400, "invalid_event"),
    ("nan", b'{"eventName":"a","v":NaN}', JSON, {}, 400, "invalid_json"),
    ("infinity", b'{"eventName":"a","v":Infinity}', JSON, {}, 400, "invalid_json"),
    ("minus-infinity", b'{"eventName":"a","v":-Infinity}', JSON, {}, 400, "invalid_json"),
    ("duplicate-keys", b'{"eventName":"a","eventName":"b"}', JSON, {}, 400, "invalid_json"),
    ("nested-duplicate-keys", b'{"eventName":"a","p":{"x":1,"x":2}}', JSON, {}, 400, None),
    ("trailing-data", b'{"eventName":"a"} {"eventName":"b"}', JSON, {}, 400, "invalid_json"),
    ("invalid-utf8", b'{"eventName":"\xff\xfe"}', JSON, {}, 400, "invalid_encoding"),
    ("overlong-utf8", b'{"eventName":"\xc0\xaf"}', JSON, {}, 400, "invalid_encoding"),
    ("utf8-bom", b'\xef\xbb\xbf{"eventName":"a"}', JSON, {}, 400, None),
    ("lone-surrogate-name", rb'{"eventName":"\ud800"}', JSON, {}, 400, "invalid_unicode"),
    ("lone-surrogate-value", rb'{"eventName":"a","p":"x\udfff"}', JSON, {}, 400, None),
    ("lone-surrogate-key", rb'{"eventName":"a","\ud83d":1}', JSON, {}, 400, None),
    ("empty-body", b"", JSON, {}, 400, "empty_body"),
    ("blank-body", b" \n\t ", JSON, {}, 400, "empty_body"),
    ("deep-arrays", NESTED_ARRAYS, JSON, {}, 400, "too_deep"),
    ("deep-objects", NESTED_OBJECTS, JSON, {}, 400, "too_deep"),
    ("xml", b'{"eventName":"a"}', "application/xml", {}, 415, "unsupported_media_type"),
    ("html", b'{"eventName":"a"}', "text/html", {}, 415, "unsupported_media_type"),
    (
        "form",
        b'{"eventName":"a"}',
        "multipart/form-data; boundary=x",
        {},
        415,
        "unsupported_media_type",
    ),
    (
        "latin-1",
        b'{"eventName":"a"}',
        "application/json; charset=latin-1",
        {},
        415,
        "unsupported_media_type",
    ),
    ("brotli", b'{"eventName":"a"}', JSON, {"Content-Encoding": "br"}, 415, "unsupported_encoding"),
    (
        "deflate",
        b'{"eventName":"a"}',
        JSON,
        {"Content-Encoding": "deflate"},
        415,
        "unsupported_encoding",
    ),
    (
        "body-over-500kb",
        b'{"eventName":"a","p":"' + b"x" * 600_000 + b'"}',
        JSON,
        {},
        413,
        "payload_too_large",
    ),
    (
        "event-over-32kb",
        b'{"eventName":"a","p":"' + b"x" * 33_000 + b'"}',
        JSON,
        {},
        413,
        "event_too_large",
    ),
    # Size counts UTF-8 bytes: 11,000 characters of 3 bytes each.
    (
        "event-over-32kb-multibyte",
        ('{"eventName":"a","p":"' + "€" * 11_000 + '"}').encode(),
        JSON,
        {},
        413,
        "event_too_large",
    ),
    ("not-gzip", b"plain bytes", JSON, {"Content-Encoding": "gzip"}, 400, "invalid_gzip"),
]


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status", "code"),
    [pytest.param(*case[1:], id=case[0]) for case in ERROR_CASES],
)
def test_broken_request_is_refused_with_json(
    any_app, client, demo, body, content_type, headers, status, code
):
    response = client.post(
        log_url(demo.app.write_key), data=body, content_type=content_type, headers=headers
    )
    body = assert_error(response, status, code)
    if code == "invalid_event":
        assert body["errors"] and all({"field", "message"} <= set(e) for e in body["errors"])
    assert queue_length(any_app) == 0


def test_unknown_write_key_is_401(any_app, client, demo):
    response = client.post(log_url("wk_not_a_real_key"), json={"eventName": "user_login"})
    assert_error(response, 401, "unknown_app_key")
    # The read key is not a write key either.
    response = client.post(log_url(demo.read_key), json={"eventName": "user_login"})
    assert_error(response, 401, "unknown_app_key")
    assert queue_length(any_app) == 0


def test_missing_event_name_names_the_field(client, demo):
    body = assert_error(client.post(log_url(demo.app.write_key), json={"a": 1}), 400)
    assert [e["field"] for e in body["errors"]] == ["eventName"]


def test_event_of_exactly_32kb_is_accepted_and_one_byte_more_is_not(client, demo):
    head = {"eventName": "a", "p": ""}
    padding = MAX_EVENT_BYTES - len(json.dumps(head, separators=(",", ":")))
    fits = {"eventName": "a", "p": "x" * padding}
    over = {"eventName": "a", "p": "x" * (padding + 1)}
    assert client.post(log_url(demo.app.write_key), json=fits).status_code == 202
    assert_error(client.post(log_url(demo.app.write_key), json=over), 413, "event_too_large")


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/json; charset=utf-8",
        "application/vnd.api+json",
    ],
    ids=["no-content-type", "text-plain", "text-plain-utf8", "json-utf8", "vendor-json"],
)
def test_json_is_accepted_under_lenient_media_types(any_app, client, demo, content_type):
    body = b'{"eventName":"user_login","userId":5}'
    if content_type is None:
        response = client.post(log_url(demo.app.write_key), data=body)
        assert "Content-Type" not in response.request.headers
    else:
        response = client.post(log_url(demo.app.write_key), data=body, content_type=content_type)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.json["status"] == "valid"
    assert queue_length(any_app) == 1


# --- gzip --------------------------------------------------------------------------------------


def gzipped(event: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps(event).encode())


def post_gzip(client, key: str, data: bytes, url=log_url):
    return client.post(url(key), data=data, content_type=JSON, headers={"Content-Encoding": "gzip"})


def test_gzipped_event_is_accepted(any_app, client, demo):
    event = {"eventName": "user_login", "userId": 5}
    response = post_gzip(client, demo.app.write_key, gzipped(event))
    assert response.status_code == 202
    assert response.json["status"] == "valid"
    assert response.json["payload_hash"] == canonical_hash(event)
    assert queued_events(any_app)[0]["payload"] == event


def test_gzipped_batch_is_accepted(client, demo):
    data = gzip.compress(json.dumps([{"eventName": "user_login", "userId": 1}]).encode())
    response = post_gzip(client, demo.app.write_key, data, url=batch_url)
    assert response.status_code == 202
    assert response.json["counts"]["valid"] == 1


def test_a_gzip_body_of_several_members_is_read_whole(client, demo):
    """RFC 1952: a gzip stream is a series of members; a client that compresses as it writes
    may start one per write."""
    text = json.dumps([{"eventName": "user_login", "userId": n} for n in range(3)]).encode()
    data = b"".join(gzip.compress(text[i : i + 20]) for i in range(0, len(text), 20))
    response = post_gzip(client, demo.app.write_key, data, url=batch_url)
    assert response.status_code == 202
    assert response.json["counts"]["valid"] == 3


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """A valid-looking event of 50 MB of zeros that is only ~50 KB compressed."""
    data = gzip.compress(b'{"eventName":"bomb","p":"' + b"0" * 50_000_000 + b'"}', compresslevel=9)
    assert len(data) < MAX_REQUEST_BYTES // 5  # it passes the wire cap; only inflating is capped
    return data


def test_gzip_bomb_is_413(any_app, client, demo, gzip_bomb):
    assert_error(post_gzip(client, demo.app.write_key, gzip_bomb), 413, "payload_too_large")
    assert queue_length(any_app) == 0


def _post_chunked(client, key: str, data: bytes):
    """A body without Content-Length, as a chunked request reaches the app through gunicorn
    (which marks the stream as terminated by the server)."""
    return client.post(
        log_url(key),
        input_stream=io.BytesIO(data),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},  # werkzeug then believes no Content-Length
        environ_overrides={"wsgi.input_terminated": True},
    )


@pytest.mark.parametrize("over_by", [1, 70_000])
def test_a_chunked_body_over_the_request_cap_is_413_not_cut(any_app, client, demo, over_by):
    # The JSON is valid up to the cap: read only that far, it would be judged as an event.
    event = b'{"eventName":"user_login","userId":1}'
    data = event + b" " * (MAX_REQUEST_BYTES - len(event) + over_by)
    assert_error(_post_chunked(client, demo.app.write_key, data), 413, "payload_too_large")
    assert queue_length(any_app) == 0


def test_a_chunked_body_under_the_cap_is_read_whole(client, demo):
    data = b'{"eventName":"user_login","userId":1}'.ljust(MAX_REQUEST_BYTES, b" ")
    response = _post_chunked(client, demo.app.write_key, data)
    assert response.status_code == 202 and response.json["status"] == "valid"


def test_gzip_that_inflates_just_over_the_request_cap_is_413(client, demo):
    data = gzipped({"eventName": "a", "p": "x" * MAX_REQUEST_BYTES})
    assert_error(post_gzip(client, demo.app.write_key, data), 413)


def test_gzipped_event_over_32kb_is_413(client, demo):
    data = gzipped({"eventName": "a", "p": "x" * 40_000})
    assert_error(post_gzip(client, demo.app.write_key, data), 413, "event_too_large")


GOOD_GZIP = gzip.compress(b'{"eventName":"user_login","userId":1}')


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(GOOD_GZIP[:-8] + bytes([GOOD_GZIP[-8] ^ 0xFF]) + GOOD_GZIP[-7:], id="bad-crc"),
        pytest.param(GOOD_GZIP[:-14], id="cut-in-the-data"),
        pytest.param(b"\x1f\x8b\x08\x00garbage", id="bad-header"),
        pytest.param(GOOD_GZIP[:-8], id="cut-before-trailer"),
        pytest.param(GOOD_GZIP + b"trailing garbage", id="trailing-garbage"),
    ],
)
def test_corrupt_gzip_is_400(any_app, client, demo, data):
    assert_error(post_gzip(client, demo.app.write_key, data), 400)
    assert queue_length(any_app) == 0


# --- client times and context ------------------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_clock_skew_is_corrected_with_sent_at(any_app, client, demo):
    event = {
        "eventName": "user_login",
        "userId": 1,
        "timestamp": "2024-05-01T14:00:00+02:00",  # 12:00:00 UTC on the client's clock
        "sentAt": "2024-05-01T12:00:45Z",  # sent 45 s after it happened
    }
    assert client.post(log_url(demo.app.write_key), json=event).status_code == 202
    [message] = queued_events(any_app)
    received = at(message["received_at"])
    assert at(message["timestamp"]) == received - timedelta(seconds=45)
    assert at(message["client_timestamp"]) == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert at(message["sent_at"]) == datetime(2024, 5, 1, 12, 0, 45, tzinfo=UTC)
    assert message["payload"] == event  # the event itself is kept as sent


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ({"timestamp": "2024-05-01T12:00:00Z"}, "2024-05-01T12:00:00+00:00"),
        ({"timestamp": "2024-05-01T12:00:00"}, "2024-05-01T12:00:00+00:00"),  # naive: UTC
        ({"sentAt": "2024-05-01T12:00:00Z"}, "received"),
        ({}, "received"),
    ],
    ids=["timestamp-only", "naive-timestamp", "sent-at-only", "neither"],
)
def test_event_time_without_both_client_times(any_app, client, demo, times, expected):
    event = {"eventName": "user_login", "userId": 1, **times}
    assert client.post(log_url(demo.app.write_key), json=event).status_code == 202
    [message] = queued_events(any_app)
    wanted = at(message["received_at"]) if expected == "received" else at(expected)
    assert at(message["timestamp"]) == wanted


# .NET's default(DateTime) as timestamp, with a device clock a day ahead as sentAt.
ABSURD_TIMES = {
    "timestamp": "0001-01-01T00:00:00Z",
    "sentAt": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
}


def test_absurd_client_times_are_not_a_server_error(client, demo):
    response = client.post(log_url(demo.app.write_key), json={"eventName": "a", **ABSURD_TIMES})
    assert response.status_code in (202, 400), response.get_data(as_text=True)


def test_absurd_client_times_in_a_batch_do_not_sink_neighbours(client, demo):
    events = [{"eventName": "user_login", "userId": 1}, {"eventName": "a", **ABSURD_TIMES}]
    response = client.post(batch_url(demo.app.write_key), json=events)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.json["results"][0]["status"] == "valid"


def test_context_fields_land_in_the_message(any_app, client, demo):
    event = {
        "eventName": "user_login",
        "userId": 42,
        "anonymousId": "anon-7",
        "context": {
            "app": {"version": "2.3.1"},
            "os": {"name": "iOS"},
            "device": {"id": "device-1"},
            "library": {"name": "lvd-swift", "version": "0.9.0"},
            "testRun": "ci-run-17",
        },
    }
    response = client.post(
        log_url(demo.app.write_key), json=event, headers={"X-Test-Run": "from-header"}
    )
    assert response.status_code == 202
    [message] = queued_events(any_app)
    assert {
        key: message[key]
        for key in (
            "app_version",
            "os_name",
            "device_id",
            "library_name",
            "library_version",
            "test_run",
            "user_id",
            "anonymous_id",
        )
    } == {
        "app_version": "2.3.1",
        "os_name": "iOS",
        "device_id": "device-1",
        "library_name": "lvd-swift",
        "library_version": "0.9.0",
        "test_run": "ci-run-17",  # the event's own testRun wins over the header
        "user_id": "42",
        "anonymous_id": "anon-7",
    }


def test_test_run_header_tags_events_without_their_own(any_app, client, demo):
    response = client.post(
        log_url(demo.app.write_key),
        json={"eventName": "user_login", "userId": 1, "context": {"app": {"version": "1"}}},
        headers={"X-Test-Run": "nightly-3"},
    )
    assert response.status_code == 202
    [message] = queued_events(any_app)
    assert message["test_run"] == "nightly-3"
    assert message["device_id"] is None


def test_test_run_header_applies_to_every_event_of_a_batch(any_app, client, demo):
    events = [
        {"eventName": "user_login", "userId": 1},
        {"eventName": "user_login", "userId": 2, "context": {"testRun": "own"}},
    ]
    response = client.post(
        batch_url(demo.app.write_key), json=events, headers={"X-Test-Run": "batch-run"}
    )
    assert response.status_code == 202
    assert [m["test_run"] for m in queued_events(any_app)] == ["batch-run", "own"]


# --- inputs that are accepted but must not break what comes after -----------------------------


def test_nesting_just_under_the_parser_limit_is_202_or_400(client, demo):
    def post(depth: int):
        nested = "[" * depth + "]" * depth
        body = f'{{"eventName":"deep","messageId":"{uuid.uuid4()}","p":{nested}}}'
        return client.post(log_url(demo.app.write_key), data=body, content_type=JSON)

    # Find the smallest depth the parser refuses (refusal is monotonic in depth).
    low, high = 1, 100_000
    assert post(low).status_code == 202
    assert post(high).json["code"] == "too_deep"
    while high - low > 1:
        middle = (low + high) // 2
        if post(middle).get_json().get("code") == "too_deep":
            high = middle
        else:
            low = middle
    answers = {depth: post(depth).status_code for depth in range(high - 20, high)}
    assert set(answers.values()) <= {202, 400}, answers


def test_an_event_with_nul_is_refused_because_it_could_never_be_stored(any_app):
    # PostgreSQL text and jsonb cannot hold U+0000: accepting it would lose the event.
    shop = add_app(any_app)
    client = any_app.test_client()
    response = client.post(log_url(shop.app.write_key), json={"eventName": "e", "p": "a\u0000b"})
    assert_error(response, 400, "nul_character")
    assert queued_events(any_app) == []
    # A backslash followed by the text "u0000" is ordinary data.
    response = client.post(log_url(shop.app.write_key), json={"eventName": "e", "p": "\\u0000"})
    assert response.status_code == 202


# --- batches -----------------------------------------------------------------------------------


def post_batch(client, app, body: Any, **kwargs):
    return client.post(batch_url(app.app.write_key), json=body, **kwargs)


def test_batch_object_and_bare_array_both_work(client, demo):
    events = [{"eventName": "user_login", "userId": 1}, {"eventName": "screen_view"}]
    response = post_batch(client, demo, {"events": events})
    assert response.status_code == 202
    assert set(response.json) == {"results", "counts"}
    first = response.json["results"]
    assert [r["status"] for r in first] == ["valid", "invalid"]
    # The same events again as a bare array, reversed: each slot is its own event's duplicate.
    response = post_batch(client, demo, list(reversed(events)))
    assert response.status_code == 202
    again = response.json["results"]
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert [r["task_id"] for r in again] == [first[1]["task_id"], first[0]["task_id"]]


def test_batch_answers_one_result_per_event_in_order(any_app, client, demo):
    events = [
        {"eventName": "user_login", "userId": 1},
        {"eventName": "user_login", "userId": "x"},
        {"eventName": "nope"},
        {"eventName": "screen_view", "screen_name": "home"},
    ]
    response = post_batch(client, demo, {"events": events})
    assert response.status_code == 202
    results = response.json["results"]
    assert [r["event_name"] for r in results] == [e["eventName"] for e in events]
    assert [r["status"] for r in results] == ["valid", "invalid", "unplanned", "valid"]
    for result, event in zip(results, events, strict=True):
        assert set(result) == ANSWER_KEYS
        assert result["payload_hash"] == canonical_hash(event)
        assert result["message"] == QUEUED
    assert response.json["counts"] == {
        "valid": 2,
        "invalid": 1,
        "unplanned": 1,
        "duplicate": 0,
        "rejected": 0,
    }
    assert [m["task_id"] for m in queued_events(any_app)] == [r["task_id"] for r in results]


def test_malformed_events_are_rejected_in_their_slots(any_app, client, demo):
    events = [
        {"eventName": "user_login", "userId": 1},
        "not an object",
        {"userId": 2},
        42,
        {"eventName": ""},
        {"eventName": "big", "p": "x" * 33_000},
        None,
        {"eventName": "screen_view", "screen_name": "home"},
    ]
    response = post_batch(client, demo, events)
    assert response.status_code == 202
    results = response.json["results"]
    assert [r["status"] for r in results] == [
        "valid",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "valid",
    ]
    for slot in results[1:-1]:
        assert isinstance(slot["code"], str) and isinstance(slot["message"], str)
        assert "task_id" not in slot
    assert results[1]["code"] == "not_an_object"
    assert results[2]["code"] == "invalid_event"
    assert [e["field"] for e in results[2]["errors"]] == ["eventName"]
    assert results[5]["code"] == "event_too_large"
    assert response.json["counts"]["rejected"] == 6
    assert len(queued_events(any_app)) == 2


def test_lone_surrogate_in_a_batch_is_rejected_alone(client, demo):
    body = rb'[{"eventName":"user_login","userId":1},{"eventName":"bad\udc00"}]'
    response = client.post(batch_url(demo.app.write_key), data=body, content_type=JSON)
    assert response.status_code == 202
    assert [r["status"] for r in response.json["results"]] == ["valid", "rejected"]
    assert response.json["results"][1]["code"] == "invalid_unicode"


def test_duplicates_within_one_batch_point_at_the_first(any_app, client, demo):
    events = [
        {"eventName": "user_login", "userId": 1, "messageId": "same"},
        {"eventName": "user_login", "userId": 2, "messageId": "other"},
        {"eventName": "user_login", "userId": 3, "messageId": "same"},
        {"eventName": "user_login", "userId": 2, "messageId": "other"},
    ]
    results = post_batch(client, demo, events).json["results"]
    assert [r["status"] for r in results] == ["valid", "valid", "duplicate", "duplicate"]
    assert results[2]["task_id"] == results[0]["task_id"]
    assert results[3]["task_id"] == results[1]["task_id"]
    assert [m["task_id"] for m in queued_events(any_app)] == [
        results[0]["task_id"],
        results[1]["task_id"],
    ]


def test_batch_duplicates_of_earlier_single_events(client, demo):
    single = post_verdict(client, demo, {"eventName": "user_login", "userId": 1, "messageId": "s"})
    results = post_batch(client, demo, [{"eventName": "x", "messageId": "s"}]).json["results"]
    assert results[0]["status"] == "duplicate"
    assert results[0]["task_id"] == single["task_id"]


def test_batch_counts_add_up(client, demo):
    events = [
        {"eventName": "user_login", "userId": 1},
        {"eventName": "user_login", "userId": 1},
        {"eventName": "user_login"},
        {"eventName": "unknown"},
        [],
        {"eventName": "purchase", "price": 1, "currency": "USD"},
    ]
    body = post_batch(client, demo, events).json
    assert body["counts"] == {
        "valid": 2,
        "invalid": 1,
        "unplanned": 1,
        "duplicate": 1,
        "rejected": 1,
    }
    assert sum(body["counts"].values()) == len(events) == len(body["results"])


def test_blocked_events_in_a_batch_are_not_queued(any_app, client):
    shop = add_app(any_app, plan={**DEMO_PLAN, "unplanned_events": "block"})
    events = [{"eventName": "unknown"}, {"eventName": "user_login", "userId": 1}]
    body = post_batch(client, shop, events).json
    blocked, accepted = body["results"]
    assert blocked["blocked"] is True and blocked["task_id"] is None
    assert blocked["status"] == "unplanned"
    assert body["counts"]["unplanned"] == 1
    assert [m["task_id"] for m in queued_events(any_app)] == [accepted["task_id"]]


def test_empty_batch_is_accepted_and_queues_nothing(any_app, client, demo):
    response = post_batch(client, demo, {"events": []})
    assert response.status_code == 202
    assert response.json == {
        "results": [],
        "counts": {"valid": 0, "invalid": 0, "unplanned": 0, "duplicate": 0, "rejected": 0},
    }
    assert queue_length(any_app) == 0


def test_batch_of_n_events_is_one_queued_message(any_app, client, demo):
    events = [{"eventName": "user_login", "userId": i} for i in range(25)]
    results = post_batch(client, demo, events).json["results"]
    assert queue_length(any_app) == 1
    queued = queued_events(any_app)
    assert [m["task_id"] for m in queued] == [r["task_id"] for r in results]
    assert [m["payload"] for m in queued] == events


def test_batch_on_full_profile_adds_one_redis_message(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    events = [{"eventName": "user_login", "userId": i} for i in range(10)]
    with redis.Redis.from_url(full_app.config["REDIS_URL"]) as queue:
        before = queue.llen("default")
        response = full_app.test_client().post(batch_url(shop.app.write_key), json=events)
        assert response.json["counts"]["valid"] == 10
        assert queue.llen("default") == before + 1


def test_batch_of_only_duplicates_queues_nothing_more(any_app, client, demo):
    events = [{"eventName": "user_login", "userId": i} for i in range(3)]
    post_batch(client, demo, events)
    body = post_batch(client, demo, events).json
    assert body["counts"]["duplicate"] == 3
    assert queue_length(any_app) == 1


def test_batch_of_2500_is_accepted_and_2501_is_413(any_app, client, demo):
    events = [{"eventName": "e", "messageId": str(i)} for i in range(2501)]
    assert_error(post_batch(client, demo, events), 413, "batch_too_large")
    assert queue_length(any_app) == 0
    response = post_batch(client, demo, events[:2500])
    assert response.status_code == 202
    assert response.json["counts"]["unplanned"] == 2500


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"eventName":"user_login"}', 400, "invalid_batch"),
        (b'{"events":{"eventName":"a"}}', 400, "invalid_batch"),
        (b'{"events":"a"}', 400, "invalid_batch"),
        (b"42", 400, "invalid_batch"),
        (b"not json", 400, "invalid_json"),
        (b'[{"eventName":"a","v":NaN}]', 400, "invalid_json"),
        (b"", 400, "empty_body"),
        (b"[" * 100_000, 400, "too_deep"),
        (b"[" + (b'{"eventName":"a","p":"' + b"x" * 20_000 + b'"},') * 30 + b"{}]", 413, None),
    ],
    ids=[
        "object-without-events",
        "events-object",
        "events-string",
        "number",
        "not-json",
        "nan",
        "empty",
        "deep",
        "over-500kb",
    ],
)
def test_broken_batch_is_refused_as_a_whole(any_app, client, demo, body, status, code):
    response = client.post(batch_url(demo.app.write_key), data=body, content_type=JSON)
    assert_error(response, status, code)
    assert queue_length(any_app) == 0


def test_batch_with_wrong_media_type_is_415(client, demo):
    response = client.post(batch_url(demo.app.write_key), data=b"[]", content_type="text/csv")
    assert_error(response, 415, "unsupported_media_type")


def test_batch_with_unknown_key_is_401(any_app, client):
    response = client.post(batch_url("nobody"), json=[{"eventName": "a"}])
    assert_error(response, 401, "unknown_app_key")
    assert queue_length(any_app) == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_method_is_a_json_405_that_says_which_are_allowed(client, demo, method):
    response = client.open(log_url(demo.app.write_key), method=method)
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
