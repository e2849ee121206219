"""The app directory while the database is away: stale entries keep ingestion going."""

from sqlalchemy.exc import OperationalError

from app.services.app_directory import AppDirectory
from tests.conftest import add_app
from tests.helpers import DEMO_PLAN, assert_error


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
