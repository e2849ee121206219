"""Re-validation jobs: over 100,000 stored events a real worker reports what validating each
event directly with the draft says, shows progress while it runs and stops when cancelled;
smaller cases run batch by batch in this process (time range, events stored meanwhile, an
inline plan), in both profiles."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.extensions import db
from app.models import TrackedApp
from app.services.jobs import revalidation, work
from app.services.storage.events import store_events
from app.task_states import JOB_FINISHED
from app.tasks.jobs import run_slice
from app.validation import compile_plan
from stack.servers import wait_until
from tests.helpers import DEMO_PLAN
from tests.services.jobs.helpers import (
    draft_plan,
    expected_changes,
    job_dict,
    messages,
    raw_event,
    replicate_events,
    reported,
    run_to_the_end,
    shop_with_draft,
    store_raw_events,
)

DISTINCT = 5_000
COPIES = 19  # 5,000 events stored, then 19 more copies of each: 100,000


def test_100k_events_by_a_real_worker_match_direct_validation_with_progress_and_cancel(
    full_app, celery_worker
):
    app_id, write_key, read_key = shop_with_draft(full_app)
    raws = [raw_event(i) for i in range(DISTINCT)]
    store_raw_events(full_app, write_key, raws)
    assert replicate_events(full_app, COPIES) == 100_000
    expected = expected_changes(
        raws, compile_plan(DEMO_PLAN, 1), compile_plan(draft_plan(), 2), times=COPIES + 1
    )
    assert expected["newly_invalid"] and expected["newly_valid"] and expected["newly_unplanned"]

    client = full_app.test_client()
    auth = {"Authorization": f"Bearer {read_key}"}
    url = f"/api/apps/{app_id}/jobs"
    started = client.post(url, json={"kind": "revalidate", "plan_version": 2}, headers=auth)
    assert started.status_code == 201, started.json
    job_url = started.headers["Location"]
    seen: list[dict[str, Any]] = []

    def settled() -> bool:
        job = client.get(job_url, headers=auth).json
        seen.append(job)
        return job["state"] in JOB_FINISHED

    wait_until(settled, 120, "the re-validation", interval=0.02)
    job = seen[-1]
    assert job["state"] == "done", job["error"]
    assert job["done"] == job["total"] == 100_000 and job["percent"] == 100.0
    assert reported(job["result"]) == expected
    assert job["result"]["plan_version"] == 2 and job["result"]["would_block"] == 0
    running = [s for s in seen if s["state"] == "running" and 0 < s["done"] < s["total"]]
    assert running, "no progress was seen between 0 and the total"
    assert all(s["total"] == 100_000 for s in running)
    assert [s["done"] for s in running] == sorted(s["done"] for s in running)
    assert any(s["rate_per_second"] and s["eta_seconds"] is not None for s in running)

    # The same again, cancelled once it has made some progress.
    second = client.post(url, json={"kind": "revalidate", "plan_version": 2}, headers=auth).json
    job_url = f"{url}/{second['id']}"
    wait_until(
        lambda: client.get(job_url, headers=auth).json["done"] > 0, 60, "progress", interval=0.01
    )
    cancelling = client.post(f"{job_url}/cancel", headers=auth)
    assert cancelling.status_code == 200 and cancelling.json["cancel_requested"]
    wait_until(
        lambda: client.get(job_url, headers=auth).json["state"] == "cancelled", 30, "the cancel"
    )
    stopped = client.get(job_url, headers=auth).json
    assert 0 < stopped["done"] < stopped["total"] and stopped["finished_at"]
    assert stopped["result"]["before"]["valid"] > 0  # the partial result is kept
    assert sum(stopped["result"]["before"].values()) == stopped["done"]
    # The worker has stopped: another delivery of the job's message does nothing.
    with full_app.app_context():
        assert run_slice(second["id"]) == work.SKIPPED
        after = job_dict(second["id"])
    keys = ("state", "done", "position", "result", "heartbeat_at")
    assert {key: after[key] for key in keys} == {key: stopped[key] for key in keys}
    assert client.post(f"{job_url}/cancel", headers=auth).status_code == 409


def test_batch_by_batch_with_a_time_range_and_events_stored_meanwhile(any_app):
    app_id, write_key, _ = shop_with_draft(any_app)
    now = datetime.now(UTC)
    # Few events: SQLite stores ~1,000 a second (micro's storage path), and 2,500 make two batches.
    old, recent = [raw_event(i) for i in range(200)], [raw_event(i) for i in range(2500)]
    built = messages(any_app, write_key, old) + messages(any_app, write_key, recent)
    for message in built[: len(old)]:
        message["received_at"] = (now - timedelta(days=3)).isoformat()
    with any_app.app_context():
        store_events(built)
        app = db.session.get(TrackedApp, app_id)
        since = (now - timedelta(days=1)).isoformat()
        job_id = revalidation.create(app, {"plan_version": 2, "since": since}).id
        # One batch, then the job is handed back to the queue to go on.
        assert run_slice(job_id, batches=1) == work.AGAIN
        first = job_dict(job_id)
        assert first["state"] == "queued" and first["total"] == len(recent)
        assert first["done"] == revalidation.BATCH_SIZE and 0 < first["percent"] < 100
        assert first["position"] == len(old) + revalidation.BATCH_SIZE  # the last id judged
        db.session.remove()
    store_raw_events(any_app, write_key, [raw_event(i) for i in range(50)])  # not its business
    job = run_to_the_end(any_app, job_id)
    assert job["state"] == "done" and job["done"] == job["total"] == len(recent)
    before, after = compile_plan(DEMO_PLAN, 1), compile_plan(draft_plan(), 2)
    assert reported(job["result"]) == expected_changes(recent, before, after)


def test_an_inline_plan_and_an_empty_range(any_app):
    app_id, write_key, _ = shop_with_draft(any_app)
    raws = [raw_event(i) for i in range(40)]
    store_raw_events(any_app, write_key, raws)
    inline = {"events": {}, "unplanned_events": "block"}
    with any_app.app_context():
        app = db.session.get(TrackedApp, app_id)
        job_id = revalidation.create(app, {"plan": inline}).id
        until = {"plan_version": 1, "until": "2000-01-01T00:00:00Z"}
        empty_id = revalidation.create(app, until).id
        db.session.remove()
    result = run_to_the_end(any_app, job_id)["result"]
    expected = expected_changes(raws, compile_plan(DEMO_PLAN, 1), compile_plan(inline, 0))
    assert reported(result) == expected
    assert result["would_block"] == 40 and result["after"] == {
        "valid": 0,
        "invalid": 0,
        "unplanned": 40,
    }
    nothing = run_to_the_end(any_app, empty_id)
    assert nothing["state"] == "done" and nothing["total"] == 0 and nothing["percent"] == 100.0


@pytest.mark.timeout(120)  # Python's re would not finish: a hang is the failure here
def test_a_draft_with_an_adversarial_pattern_is_judged_by_the_linear_engine(any_app):
    app_id, write_key, _ = shop_with_draft(any_app)
    long_a = "a" * 30_000
    raws = [
        {"eventName": "user_login", "userId": i, "method": long_a + ("b" if i % 2 else "")}
        for i in range(20)
    ]
    store_raw_events(any_app, write_key, raws)
    inline = copy.deepcopy(DEMO_PLAN)
    inline["events"]["user_login"]["properties"]["method"] = {"pattern": "^(a+)+$"}
    with any_app.app_context():
        app = db.session.get(TrackedApp, app_id)
        job_id = revalidation.create(app, {"plan": inline}).id
        db.session.remove()
    job = run_to_the_end(any_app, job_id)
    assert job["state"] == "done"
    assert job["result"]["after"] == {"valid": 10, "invalid": 10, "unplanned": 0}
