"""Jobs survive their worker: a worker killed with SIGKILL mid-job leaves it running with an
old heartbeat; resume_stalled_jobs, run by the next worker, queues it again and it ends with
the right totals. A stalled job resumes from its position without counting twice (the worker
that lost it can no longer write), fails cleanly after MAX_ATTEMPTS, and a second delivery or
a second copy of a job does nothing."""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import Job, TrackedApp
from app.models.types import utcnow
from app.services.jobs import imports, revalidation, work
from app.services.jobs import runner as jobs
from app.task_states import JOB_FINISHED
from app.tasks.jobs import resume_stalled_jobs, run_slice
from app.validation import compile_plan
from stack.servers import start_worker, stop_process_group, wait_until
from tests.helpers import DEMO_PLAN, count_events
from tests.services.jobs.helpers import (
    draft_plan,
    expected_changes,
    job_dict,
    ndjson_file,
    raw_event,
    replicate_events,
    reported,
    run_to_the_end,
    shop_with_draft,
    store_raw_events,
)
from tests.support.profiles import full_env

STALE = timedelta(seconds=jobs.STALE_SECONDS + 1)


def age_heartbeat(job_id: int, by: timedelta = STALE) -> None:
    """Make the job's last heartbeat `by` older, as if that much time had passed."""
    heartbeat = db.session.scalar(select(Job.heartbeat_at).where(Job.id == job_id))
    db.session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=heartbeat - by))
    db.session.commit()


def new_revalidation(flask_app, events: int = 30) -> int:
    app_id, write_key, _ = shop_with_draft(flask_app)
    store_raw_events(flask_app, write_key, [raw_event(i) for i in range(events)])
    with flask_app.app_context():
        job_id = revalidation.create(db.session.get(TrackedApp, app_id), {"plan_version": 2}).id
        db.session.remove()
    return job_id


@pytest.mark.system  # starts a process in its own body
def test_a_job_whose_worker_was_killed_is_resumed_by_the_next_worker(
    full_app, service_root, redis_server, postgres_server, tmp_path
):
    app_id, write_key, read_key = shop_with_draft(full_app)
    raws = [raw_event(i) for i in range(5000)]
    store_raw_events(full_app, write_key, raws)
    assert replicate_events(full_app, 7) == 40_000
    env = full_env(service_root, redis_server, postgres_server)
    client = full_app.test_client()
    auth = {"Authorization": f"Bearer {read_key}"}
    pid = start_worker(env, tmp_path / "first.log", "batch_processing", concurrency=1).pid
    try:
        started = client.post(
            f"/api/apps/{app_id}/jobs", json={"kind": "revalidate", "plan_version": 2}, headers=auth
        )
        job_url = started.headers["Location"]
        wait_until(
            lambda: 0 < client.get(job_url, headers=auth).json["done"] < 40_000,
            60,
            "progress",
            interval=0.01,
        )
        stop_process_group(pid, signal.SIGKILL)  # the worker and its pool process, at once
    finally:
        stop_process_group(pid)
    killed = client.get(job_url, headers=auth).json
    assert killed["state"] == "running" and 0 < killed["done"] < killed["total"]
    with full_app.app_context():
        assert jobs.recover_stalled() == []  # its heartbeat is recent: not given up yet
        age_heartbeat(killed["id"])  # ... two minutes later
        db.session.remove()

    pid = start_worker(env, tmp_path / "second.log", "batch_processing", concurrency=1).pid
    try:
        resume_stalled_jobs.apply_async()  # what beat sends every minute
        wait_until(
            lambda: client.get(job_url, headers=auth).json["state"] in JOB_FINISHED,
            60,
            "the resumed job",
        )
    finally:
        stop_process_group(pid)
    job = client.get(job_url, headers=auth).json
    assert job["state"] == "done" and job["attempts"] == 1, job["error"]
    assert job["done"] == job["total"] == 40_000
    expected = expected_changes(raws, compile_plan(DEMO_PLAN, 1), compile_plan(draft_plan(), 2), 8)
    assert reported(job["result"]) == expected


def test_a_stalled_import_resumes_from_its_line_and_the_lost_worker_cannot_write(any_app):
    new = shop_with_draft(any_app)
    data, expected = ndjson_file(3000)  # two chunks and a half
    with any_app.app_context():
        job_id = imports.create(
            db.session.get(TrackedApp, new[0]), "f.ndjson", data, any_app.config["IMPORT_MAX_BYTES"]
        ).id
        assert run_slice(job_id, batches=1) == work.AGAIN
        assert job_dict(job_id)["position"] == imports.CHUNK_LINES
        lost = jobs.claim(job_id)  # a worker takes it again, and dies
        age_heartbeat(job_id)
        assert jobs.recover_stalled() == [job_id]
        requeued = job_dict(job_id)
        assert (requeued["state"], requeued["attempts"]) == ("queued", 1)
        assert requeued["position"] == imports.CHUNK_LINES  # from where it got to
        assert jobs.claim(job_id) is not None  # the resumed copy
        with pytest.raises(jobs.Lost):  # the old worker, only slow after all, is refused
            lost.save(lost.position + 10, lost.done + 10, lost.result)
        age_heartbeat(job_id)  # ... and the resumed copy dies too
        assert jobs.recover_stalled() == [job_id]
        db.session.remove()
    job = run_to_the_end(any_app, job_id)
    assert job["state"] == "done" and job["done"] == job["total"] == 3000
    assert job["attempts"] == 2
    result = job["result"]
    assert result["stored"] == expected["stored"] == count_events(any_app, app_id=new[0])
    assert result["counts"]["duplicate"] == expected["duplicate"]
    assert [(e["line"], e["code"]) for e in result["errors"]] == expected["errors"]
    assert sum(result["counts"].values()) == 3000


def test_a_job_whose_worker_keeps_dying_fails_after_max_attempts(any_app):
    job_id = new_revalidation(any_app)
    with any_app.app_context():
        for attempt in range(1, jobs.MAX_ATTEMPTS + 1):
            assert jobs.claim(job_id) is not None
            age_heartbeat(job_id)
            assert jobs.recover_stalled() == [job_id]
            assert job_dict(job_id)["attempts"] == attempt
        assert jobs.claim(job_id) is not None
        age_heartbeat(job_id)
        assert jobs.recover_stalled() == []
        failed = job_dict(job_id)
        assert failed["state"] == "failed" and failed["finished_at"]
        assert f"stopped {jobs.MAX_ATTEMPTS + 1} times" in failed["error"]
        assert run_slice(job_id) == work.SKIPPED
        db.session.remove()


def test_a_stalled_job_asked_to_cancel_is_cancelled_not_resumed(any_app):
    job_id = new_revalidation(any_app)
    with any_app.app_context():
        jobs.claim(job_id)
        jobs.cancel(db.session.get(Job, job_id))
        assert job_dict(job_id)["state"] == "running"  # its worker would stop after a batch
        age_heartbeat(job_id)
        assert jobs.recover_stalled() == []
        assert job_dict(job_id)["state"] == "cancelled"
        db.session.remove()


def test_a_second_delivery_or_a_second_copy_of_a_job_does_nothing(any_app):
    job_id = new_revalidation(any_app)
    with any_app.app_context():
        first = jobs.claim(job_id)
        assert first is not None
        assert jobs.claim(job_id) is None  # a second copy of the message, at the same time
        assert run_slice(job_id) == work.SKIPPED
        assert job_dict(job_id)["done"] == 0
        db.session.execute(update(Job).where(Job.id == job_id).values(state="queued"))
        db.session.commit()
        assert run_slice(job_id) == work.SETTLED
        done = job_dict(job_id)
        assert done["state"] == "done" and done["done"] == 30
        assert run_slice(job_id) == work.SKIPPED  # delivered again once done
        assert job_dict(job_id) == done
        db.session.remove()


def test_a_queued_job_whose_message_was_lost_is_queued_again(any_app):
    job_id = new_revalidation(any_app)
    with any_app.app_context():
        assert jobs.recover_stalled() == []
        later = utcnow() + STALE
        assert jobs.recover_stalled(now=later) == [job_id]
        assert jobs.recover_stalled(now=later) == []  # not again at once
        job = job_dict(job_id)
        assert (job["state"], job["attempts"]) == ("queued", 0)
        db.session.remove()
