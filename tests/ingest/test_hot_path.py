"""The full profile's request path: no database query and no schema compilation per request."""

from sqlalchemy import event

from app.extensions import db
from app.services.ingestion import app_directory
from tests.helpers import DEMO_PLAN
from tests.support.profiles import add_app


def test_warm_requests_touch_no_database_and_compile_nothing(full_app, monkeypatch):
    new = add_app(full_app, plan=DEMO_PLAN)
    client = full_app.test_client()
    url = f"/api/logs/{new.app.write_key}"
    assert client.post(url, json={"eventName": "user_login", "userId": 0}).status_code == 202

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    def no_compiling(*args, **kwargs):
        raise AssertionError("a schema was compiled on the request path")

    monkeypatch.setattr(app_directory, "compile_plan", no_compiling)
    with full_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for i in range(1, 21):
            answer = client.post(url, json={"eventName": "user_login", "userId": i})
            assert answer.status_code == 202 and answer.json["status"] == "valid"
        batch = client.post(
            url + "/batch", json=[{"eventName": "screen_view", "n": n} for n in range(3)]
        )
        assert batch.status_code == 202, batch.get_data(as_text=True)
        # Judged from the cached plan: screen_view requires screen_name.
        assert [result["status"] for result in batch.json["results"]] == ["invalid"] * 3
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == []


def test_the_first_request_for_a_key_loads_it_once(full_app):
    new = add_app(full_app, plan=DEMO_PLAN)
    directory = full_app.extensions["app_directory"]
    directory.invalidate()
    statements: list[str] = []
    with full_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    client = full_app.test_client()
    events = [
        ({"eventName": "user_login", "userId": 1}, "valid"),
        ({"eventName": "user_login"}, "invalid"),  # userId is required
        ({"eventName": "e", "n": 3}, "unplanned"),
        ({"eventName": "user_login", "userId": "x"}, "invalid"),  # userId is an integer
        ({"eventName": "screen_view", "screen_name": "home"}, "valid"),
    ]
    verdicts = []
    for raw, _ in events:
        answer = client.post(f"/api/logs/{new.app.write_key}", json=raw)
        assert answer.status_code == 202, answer.get_data(as_text=True)
        verdicts.append(answer.json["status"])
    # Every request was judged against the plan loaded by the first one, with one query.
    assert verdicts == [verdict for _, verdict in events]
    assert len(statements) == 1 and "FROM apps" in statements[0]
