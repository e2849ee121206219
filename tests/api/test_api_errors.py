"""Errors that say what to do: an unknown `?status=` names the allowed ones, a body over the
request cap names the cap, a request without a write key says how to send one."""

from __future__ import annotations

import base64

import pytest
from flask import Flask

from app.api.jobs import FORM_OVERHEAD
from tests.helpers import DEMO_PLAN
from tests.support.profiles import add_app


def assert_error(response, status: int, code: str) -> str:
    """The JSON error's message, after checking its status and code."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    assert response.json["code"] == code
    return response.json["message"]


@pytest.mark.parametrize("status", ["bogus", "VALID", "duplicate"])
def test_an_unknown_event_status_is_a_400_naming_the_allowed_ones(micro_app: Flask, status):
    shop = add_app(micro_app, plan=DEMO_PLAN)
    response = micro_app.test_client().get(
        f"/api/apps/{shop.app.id}/events",
        query_string={"status": status},
        headers={"Authorization": f"Bearer {shop.read_key}"},
    )
    message = assert_error(response, 400, "invalid_parameter")
    assert message == "status must be one of valid, invalid, unplanned."


@pytest.mark.parametrize("status", ["valid", "invalid", "unplanned", ""])
def test_each_known_status_and_none_are_still_lists(micro_app: Flask, status):
    shop = add_app(micro_app, plan=DEMO_PLAN)
    response = micro_app.test_client().get(
        f"/api/apps/{shop.app.id}/events",
        query_string={"status": status},
        headers={"Authorization": f"Bearer {shop.read_key}"},
    )
    assert response.status_code == 200 and response.json["events"] == []


@pytest.mark.parametrize("path", ["/api/logs/{key}", "/api/logs/{key}/batch", "/v1/batch"])
def test_a_body_over_the_request_cap_is_a_json_413_naming_the_cap(micro_app: Flask, path):
    shop = add_app(micro_app, plan=DEMO_PLAN)
    cap = micro_app.config["MAX_REQUEST_BYTES"]
    response = micro_app.test_client().post(
        path.format(key=shop.app.write_key),
        data=b" " * (cap + 1),
        content_type="application/json",
    )
    message = assert_error(response, 413, "payload_too_large")
    assert message == f"The request body is over the {cap}-byte limit."


def test_an_upload_over_its_cap_names_the_upload_cap(make_app):
    app = make_app("micro", IMPORT_MAX_BYTES=1000)
    shop = add_app(app, plan=DEMO_PLAN)
    response = app.test_client().post(
        f"/api/apps/{shop.app.id}/jobs",
        data=b"{}\n" * 30_000,  # over IMPORT_MAX_BYTES plus the form overhead
        content_type="application/x-ndjson",
        headers={"Authorization": f"Bearer {shop.read_key}"},
    )
    message = assert_error(response, 413, "payload_too_large")
    assert message == f"The request body is over the {1000 + FORM_OVERHEAD}-byte limit."


@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch", "/v1/identify"])
def test_an_sdk_request_without_a_write_key_says_how_to_send_one(micro_app: Flask, path):
    body = {"event": "a", "userId": "u", "batch": [{"type": "track", "event": "a"}]}
    response = micro_app.test_client().post(path, json=body)
    message = assert_error(response, 401, "unknown_app_key")
    assert message.startswith("No write key was sent.")
    assert "HTTP Basic user name" in message and '"writeKey" in the JSON body' in message


def test_an_unknown_sdk_write_key_also_says_how_keys_are_sent(micro_app: Flask):
    token = base64.b64encode(b"no-such-key:").decode()
    response = micro_app.test_client().post(
        "/v1/track", json={"event": "a", "userId": "u"}, headers={"Authorization": f"Basic {token}"}
    )
    message = assert_error(response, 401, "unknown_app_key")
    assert message.startswith("No app has this write key.") and "HTTP Basic" in message


@pytest.mark.parametrize("path", ["/api/logs/no-such-key", "/api/logs/no-such-key/batch"])
def test_a_native_request_with_an_unknown_key_says_the_key_goes_in_the_path(micro_app: Flask, path):
    response = micro_app.test_client().post(path, json={"eventName": "a"})
    message = assert_error(response, 401, "unknown_app_key")
    assert message == (
        "No app has this write key. "
        "The app's write key goes in the URL path: POST /api/logs/<write key>."
    )
