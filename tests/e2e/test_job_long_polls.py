"""A client that hangs up on `GET /api/apps/<id>/jobs/<job>?wait=` gives its wait slot back at
once, not at its deadline: the app behind a real HTTP server (micro's werkzeug), a raw
connection closed mid-wait."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from app.extensions import db
from app.models import TrackedApp
from app.services.jobs import revalidation
from stack.servers import wait_until
from tests.services.jobs.helpers import shop_with_draft
from tests.support.browser import LiveServer


def test_a_client_that_hangs_up_gives_its_job_wait_slot_back(live_micro_server: LiveServer):
    flask_app = live_micro_server.app
    app_id, _, read_key = shop_with_draft(flask_app)
    with flask_app.app_context():
        job_id = revalidation.create(db.session.get(TrackedApp, app_id), {"plan_version": 2}).id
        db.session.remove()  # no worker runs: the job stays queued
    slots = flask_app.extensions["wait_slots"]
    split = urlsplit(live_micro_server.url)
    gone = http.client.HTTPConnection(split.hostname, split.port, timeout=60)
    gone.request(
        "GET",
        f"/api/apps/{app_id}/jobs/{job_id}?wait=30",
        headers={"Authorization": f"Bearer {read_key}"},
    )
    wait_until(lambda: slots.in_use(app_id) == 1, 10, "the wait holding its slot")
    gone.close()  # hangs up long before its 30 s
    wait_until(lambda: slots.in_use(app_id) == 0, 10, "the slot given back")
