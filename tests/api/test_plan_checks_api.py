"""GET /api/app (which app a read key reaches), POST /api/apps/<id>/plan/lint and
POST /api/apps/<id>/plan/diff: answers with the read key and the owner's session, nothing saved.

Bad inputs tried, each answered with its JSON error: no key, a key of no app, another app's key
(404), a body that is not JSON, a JSON array, a plan without events, a plan over the size cap
(413), an unknown naming convention, `against` that is not a number or names no version; a
session's POST without the CSRF token; a session with two apps and no ?app_id=.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.services.accounts.users import find_user
from app.services.apps import NewApp, create_app_record
from tests.dashboard.helpers import csrf_token, sign_up_and_verify
from tests.helpers import DEMO_PLAN, assert_error
from tests.support.profiles import add_app

STRICTER = copy.deepcopy(DEMO_PLAN)
STRICTER["events"]["user_login"]["required"] = ["userId", "method"]
del STRICTER["events"]["screen_view"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post(client: FlaskClient, url: str, body: Any, headers: dict[str, str], **query: Any):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(
        url, data=data, query_string=query, content_type="application/json", headers=headers
    )


@pytest.fixture
def client(micro_app: Flask) -> FlaskClient:
    return micro_app.test_client()


@pytest.fixture
def shop(micro_app: Flask) -> NewApp:
    return add_app(micro_app, "Shop")


@pytest.fixture
def other(micro_app: Flask) -> NewApp:
    return add_app(micro_app, "Other", plan=DEMO_PLAN)


def versions(client: FlaskClient, shop: NewApp) -> list[int]:
    answer = client.get(f"/api/apps/{shop.app.id}/plan/versions", headers=bearer(shop.read_key))
    return [v["version"] for v in answer.json["versions"]]


# --- GET /api/app ------------------------------------------------------------------------------


def test_the_read_key_names_its_app(client, shop, other):
    answer = client.get("/api/app", headers=bearer(shop.read_key))
    assert answer.status_code == 200
    assert answer.json == {"id": shop.app.id, "name": "Shop", "plan_version": None}
    answer = client.get("/api/app", headers=bearer(other.read_key))
    assert answer.json == {"id": other.app.id, "name": "Other", "plan_version": 1}


def test_the_app_needs_a_key_of_an_app(client, shop):
    assert_error(client.get("/api/app"), 401, "unauthorized")
    assert_error(client.get("/api/app", headers=bearer("rk_nothing")), 401, "unauthorized")


def test_a_session_names_its_only_app_or_asks_which(micro_app, client):
    sign_up_and_verify(client, micro_app, "owner@example.com")
    with micro_app.app_context():
        user_id = find_user("owner@example.com").id
        first = create_app_record("First", owner_id=user_id).app.id
        db.session.remove()
    assert client.get("/api/app").json == {"id": first, "name": "First", "plan_version": None}
    with micro_app.app_context():
        second = create_app_record("Second", owner_id=user_id).app.id
        someone_elses = create_app_record("Theirs").app.id
        db.session.remove()
    assert_error(client.get("/api/app"), 400, "invalid_parameter")
    assert client.get(f"/api/app?app_id={second}").json["name"] == "Second"
    assert_error(client.get(f"/api/app?app_id={someone_elses}"), 404, "not_found")


# --- lint --------------------------------------------------------------------------------------


def test_lint_answers_the_findings_and_saves_nothing(client, shop):
    document = {**copy.deepcopy(DEMO_PLAN), "lint": {"event_names": "Object Action"}}
    answer = post(client, f"/api/apps/{shop.app.id}/plan/lint", document, bearer(shop.read_key))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.json
    assert (body["errors"], body["warnings"]) == (3, 6)
    assert body["conventions"] == {"event_names": "Object Action", "property_names": "any"}
    assert body["findings"][0] == {
        "severity": "error",
        "rule": "event-name-case",
        "path": "/events/user_login",
        "event": "user_login",
        "property": None,
        "message": "Event 'user_login' is not Object Action.",
    }
    assert versions(client, shop) == []


def test_lint_parameters_override_the_plans_conventions(client, shop):
    document = {**copy.deepcopy(DEMO_PLAN), "lint": {"event_names": "Object Action"}}
    answer = post(
        client,
        f"/api/apps/{shop.app.id}/plan/lint",
        document,
        bearer(shop.read_key),
        event_names="snake_case",
        property_names="snake_case",
    )
    assert answer.json["conventions"] == {
        "event_names": "snake_case",
        "property_names": "snake_case",
    }
    rules = {(f["rule"], f["path"]) for f in answer.json["findings"] if f["severity"] == "error"}
    assert rules == {("property-name-case", "/events/user_login/properties/userId")}


@pytest.mark.parametrize("route", ["lint", "diff"])
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        ([DEMO_PLAN], 400, "invalid_plan"),
        ({"event": {}}, 400, "invalid_plan"),
        ({"events": {"e": {"type": "no such type"}}}, 400, "invalid_plan"),
        ({"events": {f"e{i}": {"description": "x" * 1000} for i in range(300)}}, 413, None),
    ],
)
def test_bad_bodies_are_json_errors(client, shop, route, body, status, code):
    answer = post(client, f"/api/apps/{shop.app.id}/plan/{route}", body, bearer(shop.read_key))
    assert_error(answer, status, code or "plan_too_large")
    assert versions(client, shop) == []


def test_an_unknown_convention_is_refused(client, shop):
    url = f"/api/apps/{shop.app.id}/plan/lint"
    answer = post(client, url, DEMO_PLAN, bearer(shop.read_key), event_names="UPPER")
    assert "snake_case" in assert_error(answer, 400, "invalid_parameter")["message"]


@pytest.mark.parametrize("route", ["lint", "diff"])
def test_another_apps_key_sees_no_app(client, shop, other, route):
    answer = post(
        client, f"/api/apps/{shop.app.id}/plan/{route}", DEMO_PLAN, bearer(other.read_key)
    )
    assert_error(answer, 404, "not_found")
    assert_error(post(client, f"/api/apps/{shop.app.id}/plan/{route}", DEMO_PLAN, {}), 401)


# --- diff --------------------------------------------------------------------------------------


def test_diff_without_a_published_plan_adds_every_event(client, shop):
    answer = post(client, f"/api/apps/{shop.app.id}/plan/diff", DEMO_PLAN, bearer(shop.read_key))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json["against_version"] is None
    assert (answer.json["breaking"], answer.json["additive"]) == (0, 3)
    assert {c["rule"] for c in answer.json["changes"]} == {"event-added"}


def test_diff_against_the_published_version_and_a_chosen_one(client, other):
    url, key = f"/api/apps/{other.app.id}/plan/diff", bearer(other.read_key)
    answer = post(client, url, STRICTER, key)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json["against_version"] == 1
    assert [(c["kind"], c["rule"], c["path"]) for c in answer.json["changes"]] == [
        ("breaking", "required-added", "/events/user_login/properties/method"),
        ("breaking", "event-removed", "/events/screen_view"),
    ]
    assert (answer.json["breaking"], answer.json["additive"]) == (2, 0)
    # Save STRICTER as v2 and publish it: the same document now has no changes, but against v1
    # it has the same two.
    saved = post(client, f"/api/apps/{other.app.id}/plan", STRICTER, key, publish="1")
    assert saved.json == {"version": 2, "status": "published"}
    assert post(client, url, STRICTER, key).json == {
        "against_version": 2,
        "changes": [],
        "breaking": 0,
        "additive": 0,
    }
    assert post(client, url, STRICTER, key, against=1).json["breaking"] == 2


@pytest.mark.parametrize(("against", "status"), [("99", 404), ("abc", 400), ("0", 400)])
def test_diff_against_a_version_that_is_not_there(client, other, against, status):
    answer = post(
        client, f"/api/apps/{other.app.id}/plan/diff", DEMO_PLAN, bearer(other.read_key),
        against=against,
    )  # fmt: skip
    assert_error(answer, status, "not_found" if status == 404 else "invalid_parameter")


# --- the owner's session -----------------------------------------------------------------------


def test_a_session_lints_and_diffs_with_its_csrf_token(micro_app, client):
    sign_up_and_verify(client, micro_app, "planner@example.com")
    with micro_app.app_context():
        owner = find_user("planner@example.com").id
        app_id = create_app_record("Shop", DEMO_PLAN, owner_id=owner).app.id
        db.session.remove()
    token = {"X-CSRFToken": csrf_token(client, "/apps")}
    lint = post(client, f"/api/apps/{app_id}/plan/lint", DEMO_PLAN, token)
    assert lint.status_code == 200 and lint.json["errors"] == 0
    diff = post(client, f"/api/apps/{app_id}/plan/diff", STRICTER, token)
    assert diff.status_code == 200 and diff.json["breaking"] == 2
    forged = post(client, f"/api/apps/{app_id}/plan/diff", STRICTER, {"X-CSRFToken": "forged"})
    assert_error(forged, 400, "csrf_failed")
