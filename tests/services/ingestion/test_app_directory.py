"""The app directory: stale entries keep ingestion going while the database is away; plans are
compiled when published, and an expired entry whose version did not change is not compiled again."""

import copy
import threading
import uuid

from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import TrackedApp
from app.services.apps import set_pii_policy
from app.services.ingestion import app_directory
from app.services.ingestion.app_directory import AppDirectory
from app.validation import compile_plan
from app.validation.compiler import _compile_canonical
from tests.helpers import DEMO_PLAN, assert_error
from tests.support.profiles import add_app


def _database_down(*args, **kwargs):
    raise OperationalError("SELECT", {}, Exception("connection refused"))


def test_an_expired_entry_is_served_while_the_database_is_down(full_app, monkeypatch):
    shop = add_app(full_app, plan=DEMO_PLAN)
    directory: AppDirectory = full_app.extensions["app_directory"]
    client = full_app.test_client()
    url = f"/api/logs/{shop.app.write_key}"
    assert client.post(url, json={"eventName": "user_login", "userId": 1}).status_code == 202
    monkeypatch.setattr(directory, "_ttl", -1)  # every entry is expired from now on
    monkeypatch.setattr(directory, "_load", _database_down)
    answer = client.post(url, json={"eventName": "user_login", "userId": 2})
    assert answer.status_code == 202 and answer.json["status"] == "valid"


def test_an_unknown_key_while_the_database_is_down_is_503_not_500(full_app, monkeypatch):
    monkeypatch.setattr(full_app.extensions["app_directory"], "_load", _database_down)
    response = full_app.test_client().post("/api/logs/never-seen", json={"eventName": "e"})
    body = assert_error(response, 503, "unavailable")
    assert "database" in body["message"]
    assert response.headers["Retry-After"] == "1"


def _publish(client, shop, plan) -> None:
    answer = client.post(
        f"/api/apps/{shop.app.id}/plan?publish=1",
        json=plan,
        headers={"Authorization": f"Bearer {shop.read_key}"},
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)


def test_publishing_compiles_the_plan_before_any_event_needs_it(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    client = any_app.test_client()
    url = f"/api/logs/{shop.app.write_key}"
    assert client.post(url, json={"eventName": "user_login", "userId": 1}).status_code == 202
    plan = copy.deepcopy(DEMO_PLAN)  # a plan no test compiled before: unique text
    plan["events"]["user_login"]["description"] = f"stricter {uuid.uuid4()}"
    plan["events"]["user_login"]["required"] = ["userId", "method"]
    _publish(client, shop, plan)
    compiled_before = _compile_canonical.cache_info().misses
    answer = client.post(url, json={"eventName": "user_login", "userId": 2})
    assert answer.json["status"] == "invalid"  # judged by the new version...
    assert _compile_canonical.cache_info().misses == compiled_before  # ...compiled already


def test_an_expired_entry_keeps_its_compiled_plan_while_the_version_is_unchanged(
    full_app, monkeypatch
):
    shop = add_app(full_app, plan=DEMO_PLAN)
    directory: AppDirectory = full_app.extensions["app_directory"]
    client = full_app.test_client()
    url = f"/api/logs/{shop.app.write_key}"
    compiled: list[int] = []
    requests_thread = threading.current_thread()

    def counting_compile(body, version):
        # Only the requests' compiles: the listener thread warms announced plans on its own,
        # whenever its announcement arrives.
        if threading.current_thread() is requests_thread:
            compiled.append(version)
        return compile_plan(body, version)

    monkeypatch.setattr(app_directory, "compile_plan", counting_compile)
    monkeypatch.setattr(directory, "_ttl", -1)  # every lookup reads the database again
    for user in range(3):
        assert client.post(url, json={"eventName": "user_login", "userId": user}).status_code == 202
    assert compiled == [1]  # loaded once; the next lookups found version 1 unchanged
    _publish(client, shop, {"events": {}})
    assert client.post(url, json={"eventName": "user_login"}).json["status"] == "unplanned"
    assert compiled[-1] == 2


LEAK = {"eventName": "user_login", "userId": 1, "method": "email", "note": "me@example.com"}


def test_a_new_pii_policy_is_announced_to_the_cached_entries(any_app, monkeypatch):
    shop = add_app(any_app, plan=DEMO_PLAN)
    directory: AppDirectory = any_app.extensions["app_directory"]
    monkeypatch.setattr(directory, "_ttl", 3600)  # only an announcement drops the entry
    client = any_app.test_client()
    url = f"/api/logs/{shop.app.write_key}"
    assert client.post(url, json=LEAK).json["status"] == "valid"  # warn: cached now
    with any_app.app_context():
        set_pii_policy(db.session.get(TrackedApp, shop.app.id), "fail")
    assert client.post(url, json={**LEAK, "userId": 2}).json["status"] == "invalid"


def test_an_expired_entry_is_reloaded_when_only_the_pii_policy_changed(any_app, monkeypatch):
    shop = add_app(any_app, plan=DEMO_PLAN)
    directory: AppDirectory = any_app.extensions["app_directory"]
    monkeypatch.setattr(directory, "_ttl", -1)  # every lookup reads the database again
    client = any_app.test_client()
    url = f"/api/logs/{shop.app.write_key}"
    assert client.post(url, json=LEAK).json["status"] == "valid"
    with any_app.app_context():  # changed behind the directory's back: no announcement
        db.session.get(TrackedApp, shop.app.id).pii_policy = "fail"
        db.session.commit()
    assert client.post(url, json={**LEAK, "userId": 2}).json["status"] == "invalid"
