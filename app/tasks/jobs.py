"""The `batch_processing` queue: re-validation and import jobs, and taking over stalled ones."""

from __future__ import annotations

import logging

import redis
from celery import shared_task
from flask import current_app
from kombu.exceptions import KombuError

from app.services.jobs import runner as jobs
from app.services.jobs import work

log = logging.getLogger(__name__)
# Far beyond a slice (jobs.SLICE_SECONDS) plus one batch: reached only by a batch stuck on
# something, and then the job is marked failed rather than left running.
SOFT_TIME_LIMIT = 600


def job_settings() -> jobs.JobSettings:
    """What a job's work needs of this app's configuration."""
    config = current_app.config
    return jobs.JobSettings(
        slice_seconds=jobs.SLICE_SECONDS[config["PROFILE"]],
        secret=config["SECRET_KEY"].encode(),
        max_event_bytes=config["MAX_EVENT_BYTES"],
        max_upload_bytes=config["IMPORT_MAX_BYTES"],
        claims=current_app.extensions["claims"],
        run_counts=current_app.extensions["run_counts"],
    )


def run_slice(job_id: int, *, seconds: float | None = None, batches: int | None = None) -> str:
    """Work on a job for one slice with this app's settings (work.run)."""
    return work.run(job_id, job_settings(), seconds=seconds, batches=batches)


@shared_task(soft_time_limit=SOFT_TIME_LIMIT)
def run_job(job_id: int) -> str:
    """Work on a job for one slice; queue it again when there is more to do."""
    outcome = run_slice(job_id)
    if outcome == work.AGAIN:
        queue_job(job_id)
    return outcome


@shared_task
def resume_stalled_jobs() -> list[int]:
    """Queue again the jobs whose worker stopped, or fail them after MAX_ATTEMPTS (beat)."""
    job_ids = jobs.recover_stalled()
    for job_id in job_ids:
        queue_job(job_id)
    return job_ids


def queue_job(job_id: int) -> bool:
    """Queue a job's task; False when the broker is unreachable (the job is committed and
    stays queued: resume_stalled_jobs sends it again once the broker is back)."""
    try:
        run_job.apply_async((job_id,))
    except (KombuError, redis.RedisError, OSError) as exc:
        log.warning("could not queue job %s (%s); beat will queue it again", job_id, exc)
        return False
    return True
