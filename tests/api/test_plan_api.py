"""Tracking-plan API: read the published plan, save versions as drafts or published, publish a
saved version (rollback), with the read key and with the owner's session and its CSRF token.

A published plan judges the very next event: the app directory caches the old plan (each test
sends an event first to fill that cache) and saving or publishing must drop it.

Bad inputs tried, each answered with its JSON error and nothing saved: a body that is not JSON,
empty, NaN, duplicate keys, nested too deep, not UTF-8; a JSON array, string or null; a plan
without events, with events as an array, with a schema of a type that does not exist, with an
unknown $schema, with an unknown policy, with a NUL character (PostgreSQL could not store it);
publish=maybe; versions 0, 99 and one beyond any integer column, read and published; a session's
POST without the CSRF token or with a wrong one.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.services.accounts.users import find_user
from app.services.apps import NewApp, create_app_record
from app.services.storage.events import store_events
from tests.dashboard.helpers import csrf_token, sign_up_and_verify, submit
from tests.helpers import DEMO_PLAN, assert_error, queued_message
from tests.support.profiles import add_app

STRICTER = copy.deepcopy(DEMO_PLAN)
STRICTER["events"]["user_login"]["required"] = ["userId", "method"]
HUGE = 10**20  # beyond any integer column


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def verdict(client: FlaskClient, write_key: str, event: dict[str, Any]) -> str:
    """The status ingestion gives the event now (a fresh message id: never a duplicate)."""
    answer = client.post(f"/api/logs/{write_key}", json={**event, "messageId": str(uuid.uuid4())})
    assert answer.status_code == 202, answer.get_data(as_text=True)
    return answer.json["status"]


class PlanApi:
    """The plan endpoints of one app, with one set of credentials."""

    def __init__(self, client: FlaskClient, app_id: int, headers: dict[str, str]) -> None:
        self.client, self.base, self.headers = client, f"/api/apps/{app_id}/plan", headers

    def get(self, path: str = ""):
        return self.client.get(self.base + path, headers=self.headers)

    def save(self, body: Any, publish: str | None = None, raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(body)
        query = {"publish": publish} if publish is not None else {}
        return self.client.post(
            self.base,
            data=data,
            query_string=query,
            content_type="application/json",
            headers=self.headers,
        )

    def publish(self, version: int):
        return self.client.post(f"{self.base}/versions/{version}/publish", headers=self.headers)

    def published(self) -> tuple[int | None, dict[str, Any]]:
        answer = self.get()
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.json["version"], answer.json["plan"]

    def listed(self) -> list[tuple[int, str, bool]]:
        answer = self.get("/versions")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return [(v["version"], v["status"], v["current"]) for v in answer.json["versions"]]


@pytest.fixture
def shop(any_app: Flask) -> NewApp:
    return add_app(any_app)


@pytest.fixture
def client(any_app: Flask) -> FlaskClient:
    return any_app.test_client()


@pytest.fixture
def by_key(client, shop) -> PlanApi:
    return PlanApi(client, shop.app.id, bearer(shop.read_key))


@pytest.fixture
def owner(micro_app: Flask):
    """A verified, logged-in user with one app: client, app id, write key and read key."""
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "planner@example.com")
    with micro_app.app_context():
        new = create_app_record("Shop", owner_id=find_user("planner@example.com").id)
        owned = client, new.app.id, new.app.write_key, new.read_key
        db.session.remove()
    return owned


# --- with the read key -------------------------------------------------------------------------


def test_infer_saves_a_draft_for_the_events_the_plan_lacks(any_app, client, shop, by_key):
    assert by_key.save(DEMO_PLAN, publish="1").status_code == 201
    raws = [{"eventName": "search", "query": "shoes", "page": n} for n in range(3)]
    raws.append({"eventName": "user_login", "userId": 1})
    with any_app.app_context():
        store_events([queued_message(any_app, shop.app.write_key, raw) for raw in raws])
    infer = by_key.client.post(f"{by_key.base}/infer", headers=by_key.headers)
    assert infer.status_code == 201, infer.get_data(as_text=True)
    assert infer.json == {"version": 2, "status": "draft", "added": ["search"], "left_out": []}
    draft = by_key.get("/versions/2").json["plan"]
    assert "required" not in draft["events"]["search"]  # three samples are too few to tell
    assert draft["events"]["user_login"] == DEMO_PLAN["events"]["user_login"]
    again = by_key.client.post(f"{by_key.base}/infer", headers=by_key.headers)
    assert again.status_code == 200
    assert again.json == {"version": None, "status": None, "added": [], "left_out": []}
    bad = by_key.client.post(f"{by_key.base}/infer?sample=0", headers=by_key.headers)
    assert_error(bad, 400, "invalid_parameter")


def test_an_app_without_a_plan_has_the_empty_plan_and_no_versions(shop, by_key):
    answer = by_key.get()
    assert answer.status_code == 200
    assert answer.json == {"app_id": shop.app.id, "version": None, "plan": {"events": {}}}
    assert by_key.get("/versions").json == {"versions": []}
    assert_error(by_key.get("/versions/1"), 404, "not_found")


def test_a_draft_is_saved_but_judges_nothing(client, shop, by_key):
    assert verdict(client, shop.app.write_key, {"eventName": "user_login"}) == "unplanned"
    answer = by_key.save(DEMO_PLAN)
    assert answer.status_code == 201
    assert answer.json == {"version": 1, "status": "draft"}
    assert answer.headers["Location"].endswith(f"/api/apps/{shop.app.id}/plan/versions/1")
    assert by_key.published() == (None, {"events": {}})
    assert by_key.listed() == [(1, "draft", False)]
    one = by_key.get("/versions/1").json
    assert (one["version"], one["status"], one["plan"]) == (1, "draft", DEMO_PLAN)
    assert one["created_at"].endswith("Z") and one["published_at"] is None
    event = {"eventName": "user_login", "userId": "not a number"}
    assert verdict(client, shop.app.write_key, event) == "unplanned"


def test_a_published_plan_judges_the_next_event(client, shop, by_key):
    key = shop.app.write_key
    assert verdict(client, key, {"eventName": "user_login", "userId": "x"}) == "unplanned"
    answer = by_key.save(DEMO_PLAN, publish="1")
    assert (answer.status_code, answer.json) == (201, {"version": 1, "status": "published"})
    assert by_key.published() == (1, DEMO_PLAN)
    assert verdict(client, key, {"eventName": "user_login", "userId": "x"}) == "invalid"
    assert verdict(client, key, {"eventName": "user_login", "userId": 7}) == "valid"
    assert by_key.get("/versions/1").json["published_at"].endswith("Z")


def test_a_draft_published_later_and_a_rollback(client, shop, by_key):
    key = shop.app.write_key
    by_key.save(DEMO_PLAN, publish="true")
    assert by_key.save(STRICTER).json == {"version": 2, "status": "draft"}
    without_method = {"eventName": "user_login", "userId": 1}
    assert verdict(client, key, without_method) == "valid"  # the draft changes nothing yet

    answer = by_key.publish(2)
    assert (answer.status_code, answer.json) == (200, {"version": 2, "status": "published"})
    assert by_key.published() == (2, STRICTER)
    assert verdict(client, key, without_method) == "invalid"

    assert by_key.publish(1).json == {"version": 1, "status": "published"}  # roll back
    assert by_key.published() == (1, DEMO_PLAN)
    assert verdict(client, key, without_method) == "valid"
    assert by_key.listed() == [(2, "published", False), (1, "published", True)]


@pytest.mark.parametrize("flag", ["0", "false", ""])
def test_publish_off_saves_a_draft(by_key, flag):
    assert by_key.save(DEMO_PLAN, publish=flag).json == {"version": 1, "status": "draft"}
    assert by_key.published()[0] is None


@pytest.mark.parametrize("flag", ["1", "true", "TRUE"])
def test_publish_on_publishes(by_key, flag):
    assert by_key.save(DEMO_PLAN, publish=flag).json == {"version": 1, "status": "published"}
    assert by_key.published()[0] == 1


BAD_BODIES = [
    pytest.param(b"{not json", "invalid_json", id="not-json"),
    pytest.param(b"", "invalid_json", id="empty"),
    pytest.param(b'{"events": {}, "x": NaN}', "invalid_json", id="nan"),
    pytest.param(b'{"events": {}, "events": {}}', "invalid_json", id="duplicate-key"),
    pytest.param(
        b'{"events": {"e": ' + b'{"items": ' * 80 + b"{}" + b"}" * 82, "too_deep", id="deep"
    ),
    pytest.param(b'{"events": {"caf\xe9": {}}}', "invalid_encoding", id="latin-1"),
    pytest.param(b"[]", "invalid_plan", id="array"),
    pytest.param(b'"a plan"', "invalid_plan", id="string"),
    pytest.param(b"null", "invalid_plan", id="null"),
    pytest.param(b"{}", "invalid_plan", id="no-events"),
    pytest.param(b'{"events": []}', "invalid_plan", id="events-array"),
    pytest.param(b'{"events": {"e": {"type": "strin"}}}', "invalid_plan", id="bad-type"),
    pytest.param(b'{"events": {"e": {"$schema": "urn:nope"}}}', "invalid_plan", id="bad-dialect"),
    pytest.param(b'{"events": {}, "unplanned_events": "drop"}', "invalid_plan", id="bad-policy"),
    pytest.param(b'{"events": {"e": {"title": "a\\u0000b"}}}', "invalid_plan", id="nul-value"),
    pytest.param(b'{"events": {"e\\u0000": {}}}', "invalid_plan", id="nul-name"),
]


@pytest.mark.parametrize("publish", ["0", "1"])
@pytest.mark.parametrize(("raw", "code"), BAD_BODIES)
def test_a_bad_body_is_refused_and_nothing_saved(client, shop, by_key, raw, code, publish):
    key = shop.app.write_key
    assert verdict(client, key, {"eventName": "user_login"}) == "unplanned"
    assert_error(by_key.save(None, publish=publish, raw=raw), 400, code)
    assert by_key.listed() == []
    assert by_key.published() == (None, {"events": {}})
    assert verdict(client, key, {"eventName": "user_login"}) == "unplanned"


def test_a_plan_error_names_what_is_wrong(by_key):
    body = assert_error(by_key.save({"events": {"signup": {"type": "strin"}}}), 400, "invalid_plan")
    assert "signup" in body["message"]
    body = assert_error(by_key.save({"types": {}}), 400, "invalid_plan")
    assert "'events'" in body["message"]


@pytest.mark.parametrize(
    ("pattern", "construct"), [(r"^(a+)\1$", "a backreference"), (r"^(?=.*\d)", "lookahead")]
)
def test_a_pattern_the_linear_engine_cannot_run_is_refused(
    client, shop, by_key, pattern, construct
):
    plan = {"events": {"signup": {"properties": {"code": {"type": "string", "pattern": pattern}}}}}
    body = assert_error(by_key.save(plan, publish="1"), 400, "invalid_plan")
    assert "'signup'" in body["message"] and "/properties/code/pattern" in body["message"]
    assert f"uses {construct}, a construct the linear-time" in body["message"]
    assert by_key.listed() == []


def test_a_schema_that_refers_to_itself_without_end_is_refused(by_key):
    body = assert_error(
        by_key.save({"events": {"loop": {"allOf": [{"$ref": "#"}]}}}, publish="1"),
        400,
        "invalid_plan",
    )
    assert "'loop' refers to itself without end" in body["message"]
    assert by_key.listed() == []


def test_a_plan_over_the_size_cap_is_413_and_nothing_saved(by_key):
    events = {f"event_{i}": {"description": "x" * 1000} for i in range(300)}  # ~300 KB
    body = assert_error(by_key.save({"events": events}, publish="1"), 413, "plan_too_large")
    assert "at most 256 KB" in body["message"]
    assert by_key.listed() == []


def test_an_unknown_publish_flag_is_refused(by_key):
    assert_error(by_key.save(DEMO_PLAN, publish="maybe"), 400, "invalid_parameter")
    assert by_key.listed() == []


@pytest.mark.parametrize("version", [0, 2, 99, HUGE])
def test_an_unknown_version_is_404(by_key, version):
    by_key.save(DEMO_PLAN, publish="1")
    assert_error(by_key.get(f"/versions/{version}"), 404, "not_found")
    assert_error(by_key.publish(version), 404, "not_found")
    assert by_key.published() == (1, DEMO_PLAN)


def test_a_negative_version_is_404(by_key):
    assert_error(by_key.get("/versions/-1"), 404, "not_found")
    assert_error(by_key.publish(-1), 404, "not_found")


def test_the_plan_endpoints_need_credentials(client, shop):
    anonymous = PlanApi(client, shop.app.id, {})
    assert_error(anonymous.get(), 401, "unauthorized")
    assert_error(anonymous.save(DEMO_PLAN, publish="1"), 401, "unauthorized")
    write_key = PlanApi(client, shop.app.id, bearer(shop.app.write_key))
    assert_error(write_key.save(DEMO_PLAN, publish="1"), 401, "unauthorized")
    assert_error(write_key.publish(1), 401, "unauthorized")
    assert PlanApi(client, shop.app.id, bearer(shop.read_key)).listed() == []


# --- with the owner's dashboard session ----------------------------------------------------------


def test_the_owners_session_reads_writes_and_rolls_back(owner):
    client, app_id, write_key, _ = owner
    session = PlanApi(client, app_id, {"X-CSRFToken": csrf_token(client, "/apps")})
    assert session.published() == (None, {"events": {}})
    assert verdict(client, write_key, {"eventName": "user_login", "userId": "x"}) == "unplanned"

    assert session.save(DEMO_PLAN, publish="1").json == {"version": 1, "status": "published"}
    assert verdict(client, write_key, {"eventName": "user_login", "userId": "x"}) == "invalid"
    assert session.save(STRICTER).json == {"version": 2, "status": "draft"}
    assert session.get("/versions/2").json["plan"] == STRICTER

    assert session.publish(2).status_code == 200
    assert verdict(client, write_key, {"eventName": "user_login", "userId": 1}) == "invalid"
    assert session.publish(1).status_code == 200
    assert verdict(client, write_key, {"eventName": "user_login", "userId": 1}) == "valid"
    assert session.listed() == [(2, "published", False), (1, "published", True)]


@pytest.mark.parametrize("token", [None, "not-the-token"], ids=["no-token", "wrong-token"])
def test_a_session_post_without_its_csrf_token_is_refused(owner, token):
    client, app_id, _, _ = owner
    good = PlanApi(client, app_id, {"X-CSRFToken": csrf_token(client, "/apps")})
    assert good.save(DEMO_PLAN).status_code == 201  # a draft, version 1
    forged = PlanApi(client, app_id, {"X-CSRFToken": token} if token else {})
    assert_error(forged.save(STRICTER, publish="1"), 400, "csrf_failed")
    assert_error(forged.publish(1), 400, "csrf_failed")
    assert forged.get().status_code == 200  # reading needs no token
    assert good.listed() == [(1, "draft", False)]
    assert good.published() == (None, {"events": {}})


def test_another_sessions_token_does_not_count(micro_app, owner):
    client, app_id, _, _ = owner
    other = micro_app.test_client()
    sign_up_and_verify(other, micro_app, "someone@example.com")
    borrowed = PlanApi(client, app_id, {"X-CSRFToken": csrf_token(other, "/apps")})
    assert_error(borrowed.save(DEMO_PLAN, publish="1"), 400, "csrf_failed")
    assert borrowed.listed() == []


def test_a_read_key_needs_no_csrf_token_even_beside_a_session(owner):
    client, app_id, _, read_key = owner
    with_key = PlanApi(client, app_id, bearer(read_key))  # the session cookie rides along
    assert with_key.save(DEMO_PLAN, publish="1").status_code == 201
    assert with_key.publish(1).status_code == 200
    assert_error(PlanApi(client, app_id, bearer("rk_wrong")).get(), 401, "unauthorized")


def test_the_session_ends_at_logout(owner):
    client, app_id, _, _ = owner
    assert PlanApi(client, app_id, {}).get().status_code == 200
    submit(client, "/apps", {}, action="/logout")
    assert_error(PlanApi(client, app_id, {}).get(), 401, "unauthorized")


def test_the_dashboard_page_keeps_its_html_csrf_error(owner):
    client, app_id, _, _ = owner
    answer = client.post(f"/apps/{app_id}/plan", data={"body": "{}", "action": "publish"})
    assert answer.status_code == 400
    assert answer.mimetype == "text/html"


def test_an_event_name_over_255_characters_is_refused_and_named(by_key):
    body = assert_error(
        by_key.save({"events": {"signup_" + "x" * 250: {"type": "object"}}}), 400, "invalid_plan"
    )
    assert "signup_xxx" in body["message"] and "257 characters" in body["message"]
