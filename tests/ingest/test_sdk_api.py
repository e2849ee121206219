"""The Segment-compatible endpoints `/v1/*`, on both profiles, through the test client.

Bad inputs tried: no write key, an unknown key (Basic and in the body), a body that is not JSON,
a batch without `batch`, a message without `type`, with an unknown type, a track without
`event`, a group without `groupId`, an alias without `previousId`, a messageId that is not a
string, properties that are not an object; plus every body rule shared with the native API.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import SDK_PLAN, assert_error, queued_events
from tests.support.profiles import add_app


@pytest.fixture
def shop(any_app):
    return add_app(any_app, plan=SDK_PLAN)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def post(any_app, path, body, key=None, **kwargs):
    headers = basic(key) if key else {}
    return any_app.test_client().post(path, json=body, headers=headers, **kwargs)


CASES = [
    # (endpoint, message, expected status, violated path or None)
    ("track", {"event": "Order Completed", "properties": {"revenue": 10}}, "valid", None),
    (
        "track",
        {"event": "Order Completed", "properties": {"revenue": -1}},
        "invalid",
        "/properties/revenue",
    ),
    ("track", {"event": "Nope"}, "unplanned", "/event"),
    ("screen", {"name": "Home", "properties": {"tab": "feed"}}, "valid", None),
    ("screen", {"name": "Home", "properties": {"tab": "x"}}, "invalid", "/properties/tab"),
    ("screen", {"name": "Settings"}, "unplanned", "/name"),
    ("identify", {"traits": {"email": "a@b.co"}}, "valid", None),
    ("identify", {"traits": {"email": "nope"}}, "invalid", "/traits/email"),
    ("identify", {}, "invalid", "/traits/email"),
    ("group", {"groupId": "g1", "traits": {"plan": "gold"}}, "invalid", "/traits/plan"),
    ("page", {"name": "Pricing", "properties": {"path": "/pricing"}}, "valid", None),
    ("page", {"name": "Pricing", "properties": {}}, "invalid", "/properties/path"),
    ("alias", {"previousId": "anon-1", "userId": 42}, "invalid", "/userId"),
]


@pytest.mark.parametrize(
    "endpoint, message, status, path",
    CASES,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)],
)
def test_each_type_is_judged_and_answered_200(any_app, shop, endpoint, message, status, path):
    message = {"userId": "u1", "messageId": str(uuid.uuid4()), **message}
    response = post(any_app, f"/v1/{endpoint}", message, shop.app.write_key)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.json
    assert body["success"] is True
    assert body["status"] == status
    assert [e["path"] for e in body["errors"]][:1] == ([path] if path else [])
    [queued] = queued_events(any_app)
    assert queued["type"] == endpoint and queued["task_id"] == body["task_id"]
    expected_name = (
        message.get("event")
        or (message.get("name") if endpoint in ("screen", "page") else None)
        or endpoint
    )
    assert queued["event_name"] == expected_name == body["event_name"]
    assert queued["payload"]["messageId"] == message["messageId"]


def test_write_key_in_the_body_works_too(any_app, shop):
    message = {
        "event": "Order Completed",
        "properties": {"revenue": 1},
        "userId": "u",
        "writeKey": shop.app.write_key,
    }
    response = post(any_app, "/v1/track", message)
    assert response.status_code == 200 and response.json["status"] == "valid"
    # A credential, not the event: not stored, not hashed (Basic auth gives the same event).
    without = {name: value for name, value in message.items() if name != "writeKey"}
    again = post(any_app, "/v1/track", without, shop.app.write_key)
    assert again.json["payload_hash"] == response.json["payload_hash"]
    assert again.json["status"] == "duplicate"
    in_batch = {**without, "type": "track", "userId": "v"}
    batch = {"writeKey": shop.app.write_key, "batch": [{**in_batch, "writeKey": "anything"}]}
    assert post(any_app, "/v1/batch", batch).json["results"][0]["status"] == "valid"
    basic_batch = post(any_app, "/v1/batch", {"batch": [in_batch]}, shop.app.write_key)
    assert basic_batch.json["results"][0]["status"] == "duplicate"
    assert [m["payload"] for m in queued_events(any_app)] == [without, in_batch]


@pytest.mark.parametrize("key", [None, "unknown-key"])
def test_no_or_unknown_write_key_is_401(any_app, shop, key):
    response = post(any_app, "/v1/track", {"event": "a", "userId": "u"}, key)
    assert_error(response, 401, "unknown_app_key")
    body = {"batch": [{"type": "track", "event": "a"}], "writeKey": "unknown"}
    assert_error(post(any_app, "/v1/batch", body), 401, "unknown_app_key")


@pytest.mark.parametrize(
    "endpoint, message, field",
    [
        ("track", {"userId": "u"}, "event"),
        ("track", {"event": ""}, "event"),
        ("group", {"userId": "u"}, "groupId"),
        ("alias", {"userId": "u"}, "previousId"),
        ("track", {"event": "a", "messageId": 7}, "messageId"),
        ("track", {"event": "a", "properties": [1]}, "properties"),
    ],
)
def test_a_malformed_single_message_is_400(any_app, shop, endpoint, message, field):
    body = assert_error(
        post(any_app, f"/v1/{endpoint}", message, shop.app.write_key), 400, "invalid_event"
    )
    assert field in {e["field"] for e in body["errors"]}
    assert queued_events(any_app) == []


def test_batch_answers_each_message_in_order_and_rejects_only_the_bad(any_app, shop):
    sent_at = datetime.now(UTC)
    batch = {
        "batch": [
            {
                "type": "track",
                "event": "Order Completed",
                "properties": {"revenue": 3},
                "userId": "u",
                "messageId": "m1",
            },
            {"type": "identify", "traits": {"email": "x@y.io"}, "userId": "u"},
            {"type": "bogus", "userId": "u"},
            {"event": "no type"},
            {"type": "screen", "name": "Home", "userId": "u", "messageId": "m1"},
        ],
        "sentAt": sent_at.isoformat(),
        "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
    }
    for path in ("/v1/batch", "/v1/import"):
        response = post(any_app, path, batch, shop.app.write_key)
        assert response.status_code == 200
        body = response.json
        assert body["success"] is True
        statuses = [r["status"] for r in body["results"]]
        if path == "/v1/batch":
            # The screen reuses m1's messageId: a duplicate of the track before it.
            assert statuses == ["valid", "valid", "rejected", "rejected", "duplicate"]
            assert body["results"][4]["task_id"] == body["results"][0]["task_id"]
        else:
            assert statuses == ["duplicate", "duplicate", "rejected", "rejected", "duplicate"]
        assert body["counts"] == {
            "valid": statuses.count("valid"),
            "invalid": 0,
            "unplanned": 0,
            "duplicate": statuses.count("duplicate"),
            "rejected": 2,
        }
    queued = queued_events(any_app)
    assert [m["type"] for m in queued] == ["track", "identify"]
    assert {m["library_name"] for m in queued} == {"analytics-python"}


def test_batch_sent_at_corrects_the_client_clock(any_app, shop):
    # The device clock runs 1 h fast: it stamped the event 10 s before it sent the batch.
    device_now = datetime.now(UTC) + timedelta(hours=1)
    batch = {
        "batch": [
            {
                "type": "track",
                "event": "Home",
                "userId": "u",
                "timestamp": (device_now - timedelta(seconds=10)).isoformat(),
            }
        ],
        "sentAt": device_now.isoformat(),
    }
    assert post(any_app, "/v1/batch", batch, shop.app.write_key).status_code == 200
    [message] = queued_events(any_app)
    received = datetime.fromisoformat(message["received_at"])
    corrected = datetime.fromisoformat(message["timestamp"])
    assert received - corrected == timedelta(seconds=10)
    assert message["sent_at"] == device_now.isoformat()


def test_the_same_message_id_is_a_duplicate_across_native_and_sdk(any_app, shop):
    native = any_app.test_client().post(
        f"/api/logs/{shop.app.write_key}", json={"eventName": "Home", "messageId": "shared-1"}
    )
    sdk = post(
        any_app,
        "/v1/screen",
        {"name": "Home", "userId": "u", "messageId": "shared-1"},
        shop.app.write_key,
    )
    assert native.status_code == 202 and sdk.status_code == 200
    assert sdk.json["status"] == "duplicate"
    assert sdk.json["task_id"] == native.json["task_id"]
    assert len(queued_events(any_app)) == 1


def test_gzip_bodies_and_their_caps_apply_to_sdk_endpoints(any_app, shop):
    body = json.dumps({"batch": [{"type": "track", "event": "Home", "userId": "u"}]}).encode()
    client = any_app.test_client()
    headers = {**basic(shop.app.write_key), "Content-Encoding": "gzip"}
    ok = client.post(
        "/v1/batch", data=gzip.compress(body), headers=headers, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json["counts"]["valid"] == 1
    bomb = gzip.compress(b'{"batch": [' + b" " * (20 * 1024 * 1024) + b"]}")
    assert_error(
        client.post("/v1/batch", data=bomb, headers=headers, content_type="application/json"),
        413,
        "payload_too_large",
    )
    assert_error(
        client.post(
            "/v1/batch",
            data=b"<xml/>",
            headers=basic(shop.app.write_key),
            content_type="application/xml",
        ),
        415,
    )


def test_a_batch_without_batch_is_400(any_app, shop):
    body = assert_error(
        post(any_app, "/v1/batch", {"events": []}, shop.app.write_key), 400, "invalid_batch"
    )
    assert body["message"] == 'A batch is {"batch": [messages]}.'


def test_a_batch_whose_own_fields_are_malformed_is_400_naming_them(any_app, shop):
    message = {"type": "track", "event": "a", "userId": "u"}
    answer = post(any_app, "/v1/batch", {"batch": [message], "sentAt": 1}, shop.app.write_key)
    body = assert_error(answer, 400, "invalid_batch")
    assert body["message"] == "The batch's fields around its messages are malformed."
    assert [error["field"] for error in body["errors"]] == ["sentAt"]


def test_a_batch_slot_that_is_not_an_object_is_rejected_in_its_slot(any_app, shop):
    """Like the native batch: null, numbers, strings and arrays are each `rejected`, and the
    object among them goes on."""
    good = {"type": "track", "event": "Order Completed", "properties": {"revenue": 1}}
    body = {"writeKey": shop.app.write_key, "batch": [1, "a", None, [], good, {}]}
    response = post(any_app, "/v1/batch", body)
    assert response.status_code == 200, response.get_data(as_text=True)
    results = response.json["results"]
    assert [r["status"] for r in results] == ["rejected"] * 4 + ["valid", "rejected"]
    assert [r["code"] for r in results[:4]] == ["not_an_object"] * 4
    assert response.json["counts"]["rejected"] == 5


@pytest.mark.parametrize(
    "batch", [{"a": 1}, "x", None, 5], ids=["object", "string", "null", "number"]
)
def test_a_batch_that_is_not_an_array_is_a_json_400(any_app, shop, batch):
    body = {"writeKey": shop.app.write_key, "batch": batch}
    assert_error(post(any_app, "/v1/batch", body), 400, "invalid_batch")


@pytest.mark.parametrize("key", ["\ud800", "a\x00b", "\udfff\ud800", "é" * 300])
@pytest.mark.parametrize("path", ["/v1/batch", "/v1/track"])
def test_a_write_key_no_app_can_have_is_401(any_app, shop, key, path):
    """Lone surrogates and NUL cannot even be looked up in PostgreSQL."""
    message = {"event": "Order Completed", "properties": {"revenue": 1}}
    body = {"writeKey": key, "batch": [message]} if path == "/v1/batch" else message
    assert_error(post(any_app, path, {**body, "writeKey": key}), 401, "unknown_app_key")
    user = base64.b64encode(f"{key}:".encode("utf-8", "surrogatepass")).decode()
    response = any_app.test_client().post(
        path, json=body, headers={"Authorization": f"Basic {user}"}
    )
    assert_error(response, 401, "unknown_app_key")


def test_a_basic_user_name_that_is_not_utf8_is_401(any_app, shop):
    auth = base64.b64encode(b"\xff\xfe\x00:").decode()
    response = any_app.test_client().post(
        "/v1/track", json={"event": "x"}, headers={"Authorization": f"Basic {auth}"}
    )
    assert_error(response, 401, "unknown_app_key")
