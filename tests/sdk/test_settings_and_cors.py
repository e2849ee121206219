"""`GET /v1/projects/<writeKey>/settings`, the SDKs' own paths and CORS, through the test client.

What the settings must hold comes from the SDKs' sources:
- @segment/analytics-next 1.84.3, src/browser/settings.ts (`CDNSettings`: `integrations` with
  `Segment.io.apiKey/apiHost`), src/plugins/segmentio/index.ts (`protocol`, default https),
  src/core/stats/remote-metrics.ts (`metrics.sampleRate`, default 1: telemetry to Segment);
- @segment/analytics-react-native 2.24.1, src/util.ts `validateApiHost` (a bare
  host[:port][/path], no scheme) and src/config-validation.ts `validateIntegrations`;
- github.com/segmentio/analytics-kotlin 1.25.0, core/.../core/Settings.kt (every top-level
  field a JSON object) and github.com/segmentio/analytics-swift 1.10.0,
  Sources/Segment/Settings.swift (the same fields, decoded as JSON).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import flask_migrate
import pytest

from app import create_app
from tests.helpers import SDK_PLAN, assert_error
from tests.support.profiles import add_app, close_app

# analytics-react-native 2.24.1 src/util.ts validateApiHost, verbatim.
RN_VALID_API_HOST = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*(:\d{2,5})?(\/[a-zA-Z0-9._\-/]*)?$")
# Settings.kt / Settings.swift: these are JsonObject fields; anything else fails decoding.
MOBILE_OBJECT_FIELDS = ("integrations", "plan", "edgeFunction", "middlewareSettings", "metrics")


@pytest.fixture
def proxied_app(tmp_path: Path):
    """A micro app behind one trusted proxy (TRUSTED_PROXIES=1), as behind nginx."""
    flask_app = create_app(
        {"LVD_PROFILE": "micro", "LVD_DATA_DIR": str(tmp_path / "m"), "TRUSTED_PROXIES": "1"}
    )
    flask_app.config["TESTING"] = True
    with flask_app.app_context():
        flask_migrate.upgrade()
    yield flask_app
    close_app(flask_app)


def test_settings_send_the_sdk_back_to_the_host_it_dialled(micro_app):
    key = add_app(micro_app, plan=SDK_PLAN).app.write_key
    answer = micro_app.test_client().get(
        f"/v1/projects/{key}/settings", headers={"Host": "10.0.2.2:5000"}
    )
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    settings = answer.get_json()
    segment = settings["integrations"]["Segment.io"]
    assert segment["apiKey"] == key
    assert segment["apiHost"] == "10.0.2.2:5000/v1"
    assert segment["protocol"] == "http"
    assert RN_VALID_API_HOST.match(segment["apiHost"])
    for field in MOBILE_OBJECT_FIELDS:
        assert isinstance(settings[field], dict), field
    # Nothing of Segment's is switched on: no other destination, plugin or telemetry upload.
    assert list(settings["integrations"]) == ["Segment.io"]
    assert settings["remotePlugins"] == []
    assert settings["metrics"]["sampleRate"] == 0
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.integration  # a micro app of its own (SQLite file)
def test_settings_behind_a_trusted_proxy_say_https(proxied_app):
    key = add_app(proxied_app).app.write_key
    answer = proxied_app.test_client().get(
        f"/v1/projects/{key}/settings",
        headers={"Host": "events.example.test", "X-Forwarded-Proto": "https"},
    )
    segment = answer.get_json()["integrations"]["Segment.io"]
    assert (segment["apiHost"], segment["protocol"]) == ("events.example.test/v1", "https")


@pytest.mark.parametrize(
    "host",
    [
        "a b",
        "x/y?z",
        "<script>",
        "evil.com/x",
        "127.0.0.1:5000@evil.com",
        "example.com:99999",
        "example.com:0",
        "example.com:",
        "[::1",
        "[nope]",
        "a.example,b.example",  # how werkzeug's server passes on two Host headers
        "",
    ],
)
def test_a_host_header_that_is_no_host_and_port_is_a_400(micro_app, host):
    key = add_app(micro_app).app.write_key
    answer = micro_app.test_client().get(
        f"/v1/projects/{key}/settings", environ_overrides={"HTTP_HOST": host}
    )
    assert "invalid_host" == assert_error(answer, 400)["code"]


@pytest.mark.parametrize(
    "host", ["localhost", "10.0.2.2:5443", "[::1]:5000", "[fe80::1]", "my_box.local:65535"]
)
def test_a_host_and_port_comes_back_as_the_api_host(micro_app, host):
    key = add_app(micro_app).app.write_key
    answer = micro_app.test_client().get(
        f"/v1/projects/{key}/settings", environ_overrides={"HTTP_HOST": host}
    )
    assert answer.get_json()["integrations"]["Segment.io"]["apiHost"] == f"{host}/v1"


@pytest.mark.integration  # a micro app of its own (SQLite file)
def test_public_api_host_is_used_whatever_the_host_header(tmp_path):
    flask_app = create_app(
        {
            "LVD_PROFILE": "micro",
            "LVD_DATA_DIR": str(tmp_path / "m"),
            "PUBLIC_API_HOST": "events.example.test:8443",
        }
    )
    with flask_app.app_context():
        flask_migrate.upgrade()
    try:
        key = add_app(flask_app).app.write_key
        answer = flask_app.test_client().get(
            f"/v1/projects/{key}/settings", headers={"Host": "evil.example.com"}
        )
        segment = answer.get_json()["integrations"]["Segment.io"]
        assert segment["apiHost"] == "events.example.test:8443/v1"
    finally:
        close_app(flask_app)


@pytest.mark.parametrize("value", ["https://events.example.test", "events.example.test/v1", "a b"])
def test_public_api_host_must_be_a_host_and_port(tmp_path, value):
    env = {"LVD_PROFILE": "micro", "LVD_DATA_DIR": str(tmp_path / "m"), "PUBLIC_API_HOST": value}
    with pytest.raises(ValueError, match="PUBLIC_API_HOST must be host"):
        create_app(env)


def test_settings_ignore_forwarded_proto_without_a_trusted_proxy(micro_app):
    key = add_app(micro_app).app.write_key
    answer = micro_app.test_client().get(
        f"/v1/projects/{key}/settings", headers={"X-Forwarded-Proto": "https"}
    )
    assert answer.get_json()["integrations"]["Segment.io"]["protocol"] == "http"


def test_unknown_write_key_is_a_json_404(micro_app):
    client = micro_app.test_client()
    body = assert_error(client.get("/v1/projects/no-such-key/settings"), 404, "unknown_app_key")
    assert "write key" in body["message"]
    # A browser page must be able to read the error, so it carries CORS too.
    answer = client.get("/v1/projects/no-such-key/settings")
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert_error(client.post("/v1/projects/x/settings"), 405)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/t", "POST"),
        ("/v1/b", "POST"),
        ("/v1/batch", "POST"),
        ("/v1/projects/k/settings", "GET"),
        ("//v1/batch", "POST"),  # a host configured with a trailing slash
    ],
)
def test_preflight_allows_what_analytics_next_sends(micro_app, path, method):
    # analytics-next 1.84.3 src/plugins/segmentio/shared-dispatcher.ts createHeaders and
    # fetch-dispatcher.ts: Content-Type text/plain plus Authorization Basic (not safelisted).
    answer = micro_app.test_client().options(
        path,
        environ_overrides={"PATH_INFO": path},  # the test client reads `//v1` as a host
        headers={
            "Origin": "http://shop.example.test",
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert method in answer.headers["Access-Control-Allow-Methods"]
    assert answer.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    assert "Access-Control-Allow-Credentials" not in answer.headers


@pytest.mark.parametrize(
    "path", ["//v1/track", "/v1//track", "//api/logs/{key}", "/api//logs/{key}", "/api/logs//{key}"]
)
def test_repeated_slashes_in_an_ingestion_path_are_one(micro_app, path):
    """An SDK host with a trailing slash: answered in place, not with Flask's 308 to the merged
    path (no CORS headers, so a browser would stop there)."""
    shop = add_app(micro_app, plan=SDK_PLAN)
    key = shop.app.write_key
    body = {"event": "Order Completed", "userId": "u", "properties": {"revenue": 1}}
    if "api" in path:
        body = {"eventName": "user_login", "userId": 1}
    answer = micro_app.test_client().post(
        path.format(key=key),
        environ_overrides={"PATH_INFO": path.format(key=key)},  # as `//v1` reaches the app
        json=body,
        headers={"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()},
    )
    assert answer.status_code in (200, 202), answer.get_data(as_text=True)
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/track", 405),
        ("DELETE", "/api/logs/{key}", 405),
        ("PUT", "/api/logs/{key}/batch", 405),
        ("POST", "/v1/nothing", 404),
    ],
)
def test_ingestion_paths_no_route_answered_still_let_the_page_read_why(
    micro_app, method, path, status
):
    key = add_app(micro_app).app.write_key
    answer = micro_app.test_client().open(path.format(key=key), method=method)
    assert_error(answer, status)
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    if status == 405:
        assert "POST" in answer.headers["Allow"]


def test_dashboard_and_read_api_stay_same_origin(micro_app):
    client = micro_app.test_client()
    for path in ("/api/apps/1/events", "/api/tasks/x", "/login", "/healthz"):
        answer = client.get(path, headers={"Origin": "http://evil.example.test"})
        assert "Access-Control-Allow-Origin" not in answer.headers, path
    preflight = client.options("/api/apps/1/events", headers={"Origin": "http://evil.example.test"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


@pytest.mark.parametrize(
    ("letter", "kind", "body"),
    [
        ("t", "track", {"event": "Order Completed", "properties": {"revenue": 3}}),
        ("p", "page", {"name": "Pricing", "properties": {"path": "/pricing"}}),
        ("i", "identify", {"traits": {"email": "a@example.com"}}),
        ("g", "group", {"groupId": "g1", "traits": {"plan": "pro"}}),
        ("a", "alias", {"previousId": "anon", "userId": "u1"}),
        ("s", "screen", {"name": "Home", "properties": {"tab": "feed"}}),
    ],
)
def test_short_paths_are_their_types(micro_app, letter, kind, body):
    key = add_app(micro_app, plan=SDK_PLAN).app.write_key
    # As analytics-next posts it: text/plain, the type inside, writeKey in the body too.
    raw = json.dumps({**body, "type": kind, "writeKey": key, "userId": "u1"})
    answer = micro_app.test_client().post(
        f"/v1/{letter}",
        data=raw,
        content_type="text/plain",
        headers={"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["status"] == "valid"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


def test_bad_input_on_the_sdk_paths_is_a_json_error(micro_app):
    key = add_app(micro_app).app.write_key
    client = micro_app.test_client()
    assert_error(client.post("/v1/b", data="{", content_type="text/plain"), 400, "invalid_json")
    assert_error(
        client.post("/v1/b", data=json.dumps({"writeKey": key}), content_type="text/plain"),
        400,
        "invalid_batch",
    )
    assert_error(
        client.post("/v1/b", data=json.dumps({"batch": []}), content_type="text/plain"),
        401,
        "unknown_app_key",
    )
    assert_error(client.post("/v1/t", data=json.dumps({"writeKey": key, "type": "track"})), 400)
    assert_error(client.get("/v1/b"), 405)
    assert_error(client.post("/v1/x", json={}), 404)
