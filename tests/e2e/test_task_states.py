"""`GET /api/tasks/<id>?wait=N` end to end, the way a CI job uses it instead of sleeping: an
event posted over HTTP is `stored` once a real worker stored it; one the database refuses is
`failed` with the database's error; an id never issued is a JSON 404."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import text

from app.extensions import db
from tests.helpers import DEMO_PLAN, assert_error
from tests.support.profiles import add_app


def test_stored_failed_and_unknown(full_app, celery_worker):
    shop = add_app(full_app, plan=DEMO_PLAN)
    client, auth = full_app.test_client(), {"Authorization": f"Bearer {shop.read_key}"}
    posted = client.post(f"/api/logs/{shop.app.write_key}", json={"eventName": "user_login"})
    answer = client.get(f"/api/tasks/{posted.json['task_id']}?wait=5", headers=auth)
    assert answer.json["state"] == "stored" and answer.json["status"] == "invalid"

    # The database refuses this event (a constraint added for the test): it is dead-lettered.
    with full_app.app_context():
        db.session.execute(
            text("ALTER TABLE events ADD CONSTRAINT no_doomed CHECK (event_name <> 'doomed')")
        )
        db.session.commit()
    try:
        doomed = client.post(f"/api/logs/{shop.app.write_key}", json={"eventName": "doomed"})
        assert doomed.status_code == 202
        task = f"/api/tasks/{doomed.json['task_id']}"
        deadline = time.monotonic() + 60  # the worker retries a few times before it gives up
        while (state := client.get(f"{task}?wait=5", headers=auth).json)["state"] == "queued":
            assert time.monotonic() < deadline, "never settled"
        assert state["state"] == "failed"
        assert "no_doomed" in state["error"]
    finally:
        with full_app.app_context():
            db.session.execute(text("ALTER TABLE events DROP CONSTRAINT IF EXISTS no_doomed"))
            db.session.commit()

    assert_error(client.get(f"/api/tasks/{uuid.uuid4()}?wait=1", headers=auth), 404, "not_found")
