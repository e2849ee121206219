"""Live events do not wait behind imports: with a backlog of import jobs queued and one
running, a live event posted now is stored while they are still working. Live events have the
`default` queue and its worker to themselves; imports run on `batch_processing` (as `make up`
starts them: one worker per queue). Real Redis, PostgreSQL and workers."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Job
from stack.servers import start_worker, stop_process_group, wait_until
from tests.helpers import DEMO_PLAN
from tests.services.jobs.helpers import ndjson_file
from tests.support.profiles import add_app, flush_redis, full_env


def _states(flask_app) -> list[str]:
    with flask_app.app_context():
        states = db.session.scalars(select(Job.state).order_by(Job.id)).all()
        db.session.remove()
        return states


@pytest.mark.system  # starts a process in its own body
def test_a_live_event_is_stored_while_imports_are_still_queued(
    full_app, service_root, redis_server, postgres_server, tmp_path
):
    flush_redis(redis_server)
    shop = add_app(full_app, plan=DEMO_PLAN)
    client, auth = full_app.test_client(), {"Authorization": f"Bearer {shop.read_key}"}
    data, _ = ndjson_file(20_000)
    for _ in range(4):  # the backlog: each file takes seconds to import
        answer = client.post(
            f"/api/apps/{shop.app.id}/jobs",
            data=data,
            content_type="application/x-ndjson",
            headers=auth,
        )
        assert answer.status_code == 201, answer.get_data(as_text=True)
    env = full_env(service_root, redis_server, postgres_server)
    workers = [
        start_worker(env, tmp_path / "batch.log", "batch_processing", concurrency=1).pid,
        start_worker(env, tmp_path / "default.log", "default", concurrency=1).pid,
    ]
    try:
        wait_until(lambda: "running" in _states(full_app), 30, "an import to start")
        posted = time.monotonic()
        answer = client.post(f"/api/logs/{shop.app.write_key}", json={"eventName": "live"})
        task_id = answer.json["task_id"]
        state = client.get(f"/api/tasks/{task_id}?wait=10", headers=auth).json
        latency = time.monotonic() - posted
        states = _states(full_app)
        print(f"live event stored {latency:.2f} s after it was posted; imports: {states}")
        assert state["state"] == "stored"
        assert states.count("queued") >= 2  # the backlog is still there
    finally:
        for pid in workers:
            stop_process_group(pid, timeout=30)
