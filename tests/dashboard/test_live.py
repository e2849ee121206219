"""The live stream's data: newest first, filtered, and only what is newer on each poll."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import TrackedApp
from app.services.plans.versions import save_plan
from app.services.storage.events import store_events
from tests.dashboard.helpers import sign_up_and_verify, submit
from tests.helpers import DEMO_PLAN, queued_message


def test_events_json_lists_newest_first_filters_and_polls_after(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "live@example.com")
    submit(client, "/apps", {"name": "Shop"})
    with micro_app.app_context():
        app = db.session.scalars(select(TrackedApp).where(TrackedApp.name == "Shop")).one()
        save_plan(app, DEMO_PLAN, publish=True)
        app_id, key = app.id, app.write_key
    raws = [
        {
            "eventName": "user_login",
            "userId": 1,
            "context": {"app": {"version": "1.0"}, "testRun": "build 7/α"},
        },
        {"eventName": "user_login", "userId": "x", "context": {"app": {"version": "1.1"}}},
        {"eventName": "screen_view", "screen_name": "home"},
    ]
    messages = [queued_message(micro_app, key, raw) for raw in raws]
    with micro_app.app_context():
        store_events(messages[:2])
    url = f"/apps/{app_id}/events.json"
    first = client.get(url).json["events"]
    assert [e["task_id"] for e in first] == [messages[1]["task_id"], messages[0]["task_id"]]
    assert client.get(url + "?status=invalid").json["events"][0]["errors"][0]["path"] == (
        "/properties/userId"
    )
    assert [e["app_version"] for e in client.get(url + "?app_version=1.0").json["events"]] == [
        "1.0"
    ]
    # The run, for the page's run column and its link to the run report.
    assert [e["test_run"] for e in first] == [None, "build 7/α"]
    with micro_app.app_context():
        store_events(messages[2:])
    newer = client.get(f"{url}?after={first[0]['id']}").json["events"]
    assert [e["event_name"] for e in newer] == ["screen_view"]
