"""Integers from the URL are bounded: every integer query parameter of the API and the dashboard
answers a JSON 400 naming itself for huge, negative and non-numeric values, and every integer in
a path answers 4xx (an id no row can have is a 404), never a 500. Both profiles: SQLite refuses
to bind an integer beyond 64 bits, PostgreSQL one beyond its column's type."""

from __future__ import annotations

import base64

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import TrackedApp
from app.services.ingestion.task_ids import new_task_id
from tests.dashboard.helpers import sign_up_and_verify, submit
from tests.helpers import DEMO_PLAN
from tests.support.profiles import add_app

BAD = [
    "9" * 30,
    str(2**63),
    str(2**64),
    "9" * 5000,  # beyond Python's digit limit for int()
    "-1",
    "+3",  # int() takes these five; a query parameter is digits 0-9 only
    " 3",
    "3\n",
    "1_0",
    "\u0663",  # ARABIC-INDIC DIGIT THREE
    str(-(2**63) - 1),
    "abc",
    "1.5",
    "0x10",
    "1e3",
    "",
]
# (method, path, parameter, authenticated by): every integer query parameter there is.
QUERY_ARGS = [
    ("GET", "/api/apps/{app}/events", "limit", "key"),
    ("GET", "/api/apps/{app}/dead-letters", "limit", "key"),
    ("GET", "/api/apps/{app}/tasks", "limit", "key"),
    ("GET", "/api/apps/{app}/jobs", "limit", "key"),
    ("POST", "/api/apps/{app}/plan/infer", "sample", "key"),
    ("GET", "/api/apps/{app}/plan/observed", "sample", "key"),
    ("GET", "/api/tasks/{task}", "wait", "key"),
    ("GET", "/api/tasks/{task}", "app_id", "session"),
    ("GET", "/apps/{app}/events.json", "after", "session"),
]
# Cursors carry integers too: ones this API never gave out, among them JSON nested deep enough to
# exhaust a parser's recursion.
BAD_CURSORS = [
    base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    for text in ("[" * 2500, "9" * 5000, str(2**63), "-1", '["2024-01-01T00:00:00+00:00",0,-1]')
]
HUGE_IDS = [str(2**31), str(2**63), "9" * 30]


@pytest.fixture
def owner(any_app: Flask):
    """(a signed-in client, an app with its read key, the signed-in user's app id)."""
    client = any_app.test_client()
    sign_up_and_verify(client, any_app, "ints@example.com")
    submit(client, "/apps", {"name": "Shop"})
    any_app.config["WTF_CSRF_ENABLED"] = False  # reach the handlers of POST routes too
    with any_app.app_context():
        app_id = db.session.scalars(select(TrackedApp).where(TrackedApp.name == "Shop")).one().id
    keyed = add_app(any_app, "keyed", DEMO_PLAN)
    return client, keyed, app_id


@pytest.mark.parametrize("method,path,name,auth", QUERY_ARGS, ids=lambda v: str(v)[:40])
def test_integer_query_parameters_are_bounded(any_app, owner, method, path, name, auth):
    client, keyed, session_app = owner
    app_id = keyed.app.id if auth == "key" else session_app
    task = new_task_id(any_app.config["SECRET_KEY"].encode(), app_id)
    headers = {"Authorization": f"Bearer {keyed.read_key}"} if auth == "key" else {}
    url = path.format(app=app_id, task=task)
    for value in BAD:
        response = client.open(url, method=method, query_string={name: value}, headers=headers)
        assert response.status_code == 400, (name, value[:40], response.get_data(as_text=True))
        assert response.mimetype == "application/json"
        body = response.get_json()
        assert body["code"] == "invalid_parameter" and name in body["message"], body


def _path_cases(flask_app: Flask, app_id: int) -> list[tuple[str, str]]:
    """(method, URL with one huge integer) for every integer in every route's path; the other
    integers name the app `app_id` (or 1)."""
    cases = []
    for rule in flask_app.url_map.iter_rules():
        ints = [a for a, c in rule._converters.items() if type(c).__name__ == "IntegerConverter"]
        method = "GET" if "GET" in rule.methods else "POST"
        for huge_arg in ints:
            for huge in HUGE_IDS:
                values = {a: app_id if a == "app_id" else 1 for a in ints}
                others = {a: "x" for a in rule.arguments if a not in ints}
                url = rule.build({**values, **others, huge_arg: huge}, append_unknown=False)[1]
                cases.append((method, url))
    return cases


def test_integers_in_paths_are_bounded(any_app, owner):
    client, keyed, session_app = owner
    by_key = {"Authorization": f"Bearer {keyed.read_key}"}
    failed = []
    for headers, app_id in (({}, session_app), (by_key, keyed.app.id)):
        cases = _path_cases(any_app, app_id)
        assert len(cases) > 60  # every route with an id is tried
        for method, url in cases:
            response = client.open(url, method=method, headers=headers)
            if not 400 <= response.status_code < 500:
                failed.append((method, url, response.status_code))
    assert not failed


@pytest.mark.parametrize("path", ["/api/apps/{app}/events", "/api/apps/{app}/tasks"])
def test_cursors_that_this_api_never_gave_out_are_400(owner, path):
    client, keyed, _ = owner
    for cursor in BAD_CURSORS:
        response = client.get(
            path.format(app=keyed.app.id),
            query_string={"cursor": cursor},
            headers={"Authorization": f"Bearer {keyed.read_key}"},
        )
        assert response.status_code == 400, (cursor[:40], response.get_data(as_text=True))
        assert response.json["code"] == "invalid_parameter"
