"""The ingestion fast lane (app/ingest/fast_lane.py) answers exactly as Flask's own views do.

Each request is sent twice: once through the app as deployed (the fast lane answers it) and
once to Flask's `wsgi_app` itself (the blueprints' views, hooks and error handlers). Status,
JSON body and headers must be the same; only what differs by nature is set aside: the task id
(new per request), and the `Vary: Cookie` that flask-login's after-request hook adds on Flask's
side (an ingestion answer depends on no cookie).
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client

from app.errors import INTERNAL_ERROR
from tests.helpers import DEMO_PLAN
from tests.support.profiles import add_app

MAX_REQUEST_BYTES = 500 * 1024


def _event(**fields: Any) -> dict[str, Any]:
    # A new messageId each time: a second sending must not be answered `duplicate`.
    return {
        "eventName": "user_login",
        "userId": 1,
        "method": "email",
        "messageId": str(uuid.uuid4()),
        **fields,
    }


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def _cases(key: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(name, path, body, headers): answers of every kind, good and bad."""
    as_json = {"Content-Type": "application/json"}
    event = json.dumps(_event()).encode()
    track = json.dumps(
        {
            "event": "Order Completed",
            "userId": "u",
            "properties": {"revenue": 1},
            "messageId": str(uuid.uuid4()),
        }
    )
    return [
        ("valid", f"/api/logs/{key}", event, as_json),
        ("invalid", f"/api/logs/{key}", json.dumps(_event(method=7)).encode(), as_json),
        ("unknown key", "/api/logs/nobody", event, as_json),
        ("not json", f"/api/logs/{key}", b'{"eventName":', as_json),
        ("empty", f"/api/logs/{key}", b"", as_json),
        ("xml", f"/api/logs/{key}", b"<a/>", {"Content-Type": "application/xml"}),
        ("latin-1", f"/api/logs/{key}", event, {"Content-Type": "text/plain; charset=latin-1"}),
        ("beacon", f"/api/logs/{key}", event, {"Content-Type": "text/plain"}),
        ("gzip", f"/api/logs/{key}", gzip.compress(event), {**as_json, "Content-Encoding": "gzip"}),
        ("not gzip", f"/api/logs/{key}", event, {**as_json, "Content-Encoding": "gzip"}),
        ("brotli", f"/api/logs/{key}", event, {**as_json, "Content-Encoding": "br"}),
        ("too large", f"/api/logs/{key}", b" " * (MAX_REQUEST_BYTES + 1) + event, as_json),
        ("nul name", f"/api/logs/{key}", json.dumps(_event(eventName="a\u0000")).encode(), as_json),
        ("test run", f"/api/logs/{key}", event, {**as_json, "X-Test-Run": "ci-1"}),
        ("bad run", f"/api/logs/{key}", event, {**as_json, "X-Test-Run": "\u00ff"}),
        ("no name", f"/api/logs/{key}", b'{"userId": 1}', as_json),
        (
            "batch",
            f"/api/logs/{key}/batch",
            json.dumps({"events": [_event(), _event(method=7), 5, {}]}).encode(),
            as_json,
        ),
        ("not a batch", f"/api/logs/{key}/batch", b'{"events": 5}', as_json),
        ("batch unknown key", "/api/logs/nobody/batch", b"[]", as_json),
        ("sdk track", "/v1/track", track.encode(), {**as_json, "Authorization": _basic(key)}),
        ("sdk short path", "/v1/t", track.encode(), {**as_json, "Authorization": _basic(key)}),
        (
            "sdk key in body",
            "/v1/identify",
            json.dumps(
                {"userId": "u", "traits": {}, "writeKey": key, "messageId": str(uuid.uuid4())}
            ).encode(),
            as_json,
        ),
        ("sdk no key", "/v1/track", track.encode(), as_json),
        (
            "sdk malformed",
            "/v1/track",
            b'{"userId": "u"}',
            {**as_json, "Authorization": _basic(key)},
        ),
        (
            "sdk batch",
            "/v1/batch",
            json.dumps({"batch": [json.loads(track) | {"type": "track"}, {"type": "x"}]}).encode(),
            {**as_json, "Authorization": _basic(key)},
        ),
        ("sdk b", "/v1/b", b'{"batch": 3}', {**as_json, "Authorization": _basic(key)}),
    ]


def _normalised(response) -> tuple[int, Any, dict[str, str]]:
    body = response.get_json()
    for answer in [body, *(body.get("results", []) if isinstance(body, dict) else [])]:
        # New per request (the events carry new messageIds): compared by their presence.
        for field in ("task_id", "payload_hash"):
            if isinstance(answer, dict) and field in answer:
                answer[field] = f"<{field}>"
    headers = {name: value for name, value in response.headers.items()}
    if headers.get("Vary") == "Cookie":
        del headers["Vary"]
    return response.status_code, body, headers


def _flask_only(app: Flask) -> Client:
    """A client of Flask's own wsgi_app: the blueprints' views, hooks and error handlers."""
    return Client(lambda environ, start_response: Flask.wsgi_app(app, environ, start_response))


def test_each_answer_is_the_same_as_flasks_own(any_app):
    key = add_app(any_app, "fast", DEMO_PLAN).app.write_key
    fast, flask_only = any_app.test_client(), _flask_only(any_app)
    sent = 0
    for (name, path, body, headers), (_, _, body_again, _) in zip(
        _cases(key), _cases(key), strict=True
    ):
        answers = [
            _normalised(client.post(path, data=data, headers=headers))
            for client, data in ((fast, body), (flask_only, body_again))
        ]
        assert answers[0] == answers[1], name
        sent += 1
    assert sent == len(_cases(key))


def test_a_duplicate_points_at_the_first_answer_in_both(any_app):
    key = add_app(any_app, "dup", DEMO_PLAN).app.write_key
    body = json.dumps(_event(messageId=str(uuid.uuid4())))
    first = any_app.test_client().post(
        f"/api/logs/{key}", data=body, content_type="application/json"
    )
    again = _flask_only(any_app).post(
        f"/api/logs/{key}", data=body, content_type="application/json"
    )
    third = any_app.test_client().post(
        f"/api/logs/{key}", data=body, content_type="application/json"
    )
    assert first.json["status"] == "valid"
    assert again.json["status"] == third.json["status"] == "duplicate"
    assert again.json["task_id"] == third.json["task_id"] == first.json["task_id"]


def test_the_ingestion_posts_never_reach_flasks_request_machinery(any_app, monkeypatch):
    key = add_app(any_app, "lane", DEMO_PLAN).app.write_key

    def not_here(*args: Any) -> None:
        raise AssertionError("Flask dispatched an ingestion POST")

    monkeypatch.setattr(any_app, "full_dispatch_request", not_here)
    client = any_app.test_client()
    for path, body in [
        (f"/api/logs/{key}", _event()),
        (f"/api/logs/{key}/batch", [_event()]),
        ("/v1/track", {"event": "a", "userId": "u", "writeKey": key}),
        ("/v1/batch", {"batch": [{"type": "track", "event": "a", "userId": "u"}], "writeKey": key}),
    ]:
        assert client.post(path, json=body).status_code in (200, 202), path
    # Anything else still goes to Flask (here: to the stub above).
    with pytest.raises(AssertionError, match="Flask dispatched"):
        client.post(f"/api/logs/{key}?x=1", json=_event())


def test_an_unexpected_error_is_a_json_500_and_logged(any_app, monkeypatch, caplog):
    key = add_app(any_app, "boom", DEMO_PLAN).app.write_key

    def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("app.ingest.routes.prepare_native", broken)
    response = any_app.test_client().post(f"/api/logs/{key}", json=_event())
    assert response.status_code == 500 and response.json == INTERNAL_ERROR
    assert "a bug" in caplog.text
