"""Background jobs (re-validation, import): create, claim, save, cancel, recover (work.py runs
them in slices, one module per kind does the work).

A worker owns a job by claiming it: `UPDATE … SET state='running' WHERE state='queued'` turns
one row or none, so two deliveries of one message (acks_late redelivers) never both work. Each
batch then commits its partial result, the resume cursor (`position`) and a heartbeat in ONE
conditional UPDATE that also requires the attempt and position this worker claimed and left:
a worker that lost the job (recovered as stalled while it was only slow) changes no row and
stops, so nothing counts twice.

A job runs in slices of SLICE_SECONDS and then queues itself again, so no task stays unacked
near the broker's visibility timeout (180 s, celery_config.py), other batch work gets its turn,
and micro's single in-process worker goes back to storing events between slices.

A worker that dies leaves its job `running` with an old heartbeat: `recover_stalled` (beat,
every 60 s) queues it again from `position`, at most MAX_ATTEMPTS times, then marks it failed.
`attempts` counts those recoveries, which is also how a slow worker learns that its job was
recovered from under it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select, update

from app.errors import ServiceError
from app.extensions import db
from app.models import Job, JobFile
from app.models.types import utcnow
from app.services.ingestion.claims import Claims
from app.services.ingestion.run_counts import RunCounts
from app.task_states import JOB_ACTIVE, JOB_FINISHED
from app.time_text import iso_z

log = logging.getLogger(__name__)
KINDS = ("revalidate", "import")
# A running job whose heartbeat is older than this has lost its worker: each batch beats, and
# a batch takes about a second (the batch sizes of revalidation.py and imports.py).
STALE_SECONDS = 120
# Recoveries of one job before it is marked failed: a job that kills its worker every time
# (out of memory on some input, say) must end, not loop.
MAX_ATTEMPTS = 3
# How long one task works on a job before queueing it again (see the module docstring); micro's
# one worker also stores events, so its slices are short, as the live stream waits on them.
SLICE_SECONDS = {"micro": 2.0, "full": 20.0}


class JobError(ServiceError):
    """A job cannot be created or changed as asked (answered as a JSON error, or by the CLI)."""


@dataclass(frozen=True)
class JobSettings:
    """What a job's work needs of the configuration (the task reads it from the app)."""

    slice_seconds: float  # SLICE_SECONDS of the profile
    secret: bytes  # SECRET_KEY
    max_event_bytes: int  # MAX_EVENT_BYTES
    max_upload_bytes: int  # IMPORT_MAX_BYTES
    claims: Claims  # the dedup claims live admission makes too
    run_counts: RunCounts  # test runs' counts, which live admission keeps too


class JobFailed(Exception):
    """The job cannot go on (its plan version is gone, say): it is marked failed with this."""


class Lost(Exception):
    """Another worker owns the job now, or it is gone: this one stops without writing."""


@dataclass
class Run:
    """What a worker holds of the job it claimed; `save` moves it on under the claim."""

    id: int
    app_id: int
    kind: str
    params: dict[str, Any]
    total: int | None
    done: int
    position: int
    result: dict[str, Any]
    attempts: int
    cancel_requested: bool = False

    def save(
        self,
        position: int,
        done: int,
        result: dict[str, Any],
        *,
        total: int | None = None,
        store: Callable[[], object] | None = None,
    ) -> None:
        """Record a finished batch: result, cursor and heartbeat in one conditional UPDATE.

        `store` writes the batch's own rows in the same transaction (imports), so a crash keeps
        both or neither. Raises Lost when this worker no longer owns the job.
        """
        values: dict[str, Any] = {
            "position": position,
            "done": done,
            "result": result,
            "heartbeat_at": utcnow(),
        }
        if total is not None:
            values["total"] = total
        statement = (
            update(Job).where(*self.owned()).values(**values).returning(Job.cancel_requested)
        )
        row = db.session.execute(statement).first()
        if row is None:
            db.session.rollback()
            raise Lost(f"job {self.id} is no longer this worker's")
        if store is not None:
            store()
        db.session.commit()  # (after a store that committed itself, nothing is left to do)
        self.position, self.done, self.result = position, done, result
        self.total = total if total is not None else self.total
        self.cancel_requested = row.cancel_requested

    def owned(self) -> tuple:
        """Conditions under which the job is still this worker's: running, not recovered
        since it was claimed (recovery counts an attempt), and where this worker left it."""
        return (
            Job.id == self.id,
            Job.state == "running",
            Job.attempts == self.attempts,
            Job.position == self.position,
        )


class Runner(Protocol):
    """The work of one kind of job, on one claimed Run."""

    def begin(self) -> None:
        """Count the work and save the starting result (only while `total` is unknown)."""

    def step(self) -> bool:
        """Do and save one batch; False when nothing was left to do."""


def create_job(
    app_id: int,
    kind: str,
    params: dict[str, Any],
    *,
    total: int | None = None,
    file: tuple[str, bytes] | None = None,
) -> Job:
    """A queued job (with its uploaded file), committed; the caller then queues its task."""
    job = Job(app_id=app_id, kind=kind, state="queued", params=params, total=total, result={})
    db.session.add(job)
    db.session.flush()
    if file is not None:
        db.session.add(JobFile(job_id=job.id, filename=file[0][:255], data=file[1]))
    db.session.commit()
    return job


def get_job(app_id: int, job_id: int) -> Job | None:
    """One job of an app (None for another app's)."""
    return db.session.scalar(select(Job).where(Job.id == job_id, Job.app_id == app_id))


def finished_job(app_id: int, job_id: int) -> Job | None:
    """The app's job if it is finished (done, failed, cancelled), else None (a long-poll's look)."""
    job = get_job(app_id, job_id)
    return job if job is not None and job.state in JOB_FINISHED else None


def list_jobs(
    app_id: int | None, state: str | None = None, kind: str | None = None, limit: int = 50
) -> list[Job]:
    """Jobs, newest first, of one app (or every app's, for the admin command)."""
    query = select(Job)
    if app_id is not None:
        query = query.where(Job.app_id == app_id)
    if state:
        query = query.where(Job.state == state)
    if kind:
        query = query.where(Job.kind == kind)
    return list(db.session.scalars(query.order_by(Job.id.desc()).limit(limit)))


def cancel(job: Job) -> Job:
    """A queued job is cancelled at once, a running one after its current batch (its worker
    reads the request with its next heartbeat). JobError 409 for a finished job."""
    queued = (
        update(Job)
        .where(Job.id == job.id, Job.state == "queued")
        .values(state="cancelled", finished_at=utcnow(), cancel_requested=True)
    )
    running = (
        update(Job).where(Job.id == job.id, Job.state == "running").values(cancel_requested=True)
    )
    changed = db.session.execute(queued).rowcount or db.session.execute(running).rowcount
    db.session.commit()
    db.session.refresh(job)
    if not changed:
        raise JobError("conflict", "job_finished", f"Job {job.id} is already {job.state}.")
    return job


def claim(job_id: int) -> Run | None:
    """Take a queued job for this worker (None: it is not queued, so another copy has it, or
    it is finished or gone)."""
    now = utcnow()
    row = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "queued")
        .values(state="running", started_at=func.coalesce(Job.started_at, now), heartbeat_at=now)
        .returning(
            Job.id,
            Job.app_id,
            Job.kind,
            Job.params,
            Job.total,
            Job.done,
            Job.position,
            Job.result,
            Job.attempts,
            Job.cancel_requested,
        )
    ).first()
    db.session.commit()
    return Run(**row._asdict()) if row is not None else None


def finish(run: Run, state: str, error: str | None = None) -> None:
    """Leave the job in `state` (queued: handed back to go on), if it is still this worker's."""
    now = utcnow()
    values: dict[str, Any] = {"state": state, "heartbeat_at": now}
    if state in JOB_FINISHED:
        values["finished_at"] = now
    if error is not None:
        values["error"] = error
    db.session.execute(update(Job).where(*run.owned()).values(**values))
    db.session.commit()


def recover_stalled(now: datetime | None = None) -> list[int]:
    """Requeue jobs whose worker stopped beating, and queued jobs whose message may be lost;
    fail a job recovered MAX_ATTEMPTS times already. Returns the ids to queue again."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=STALE_SECONDS)
    rows = db.session.execute(
        select(Job.id, Job.state, Job.attempts, Job.position, Job.cancel_requested).where(
            or_(
                and_(Job.state == "running", Job.heartbeat_at < cutoff),
                # Not claimed for that long: its message was lost (a broker restart, a publish
                # that failed after the commit) or waits behind a long queue, where a second
                # copy does no harm (only one claims the job).
                and_(
                    Job.state == "queued", func.coalesce(Job.heartbeat_at, Job.created_at) < cutoff
                ),
            )
        )
    ).all()
    requeue: list[int] = []
    for row in rows:
        # Unchanged since read (no heartbeat, no claim meanwhile), or leave it be.
        unchanged = update(Job).where(
            Job.id == row.id,
            Job.state == row.state,
            Job.attempts == row.attempts,
            Job.position == row.position,
            func.coalesce(Job.heartbeat_at, Job.created_at) < cutoff,
        )
        if row.state == "queued":
            values: dict[str, Any] = {"heartbeat_at": now}
        elif row.cancel_requested:
            values = {"state": "cancelled", "finished_at": now, "heartbeat_at": now}
        elif row.attempts >= MAX_ATTEMPTS:
            values = {
                "state": "failed",
                "finished_at": now,
                "error": (
                    f"The job's worker stopped {row.attempts + 1} times (no heartbeat for "
                    f"{STALE_SECONDS} s); gave up at position {row.position}."
                ),
            }
        else:
            values = {"state": "queued", "attempts": row.attempts + 1, "heartbeat_at": now}
        if db.session.execute(unchanged.values(**values)).rowcount == 1:
            if values.get("state", "queued") == "queued":
                requeue.append(row.id)
            else:
                log.warning("stalled job %s is now %s", row.id, values["state"])
    db.session.commit()
    return requeue


def _rate(job: Job, now: datetime) -> float | None:
    """Items per second since the job first started (resumptions included)."""
    if job.started_at is None or not job.done:
        return None
    end = job.finished_at or job.heartbeat_at or now
    elapsed = (end - job.started_at).total_seconds()
    return round(job.done / elapsed, 1) if elapsed > 0 else None


def job_to_dict(job: Job, *, with_result: bool = True) -> dict[str, Any]:
    """A job as the API and the admin command show it, with its progress."""
    rate = _rate(job, utcnow())
    percent = None
    if job.total:
        percent = round(100 * job.done / job.total, 1)
    elif job.total == 0 or job.state == "done":
        percent = 100.0
    eta = None
    if job.state == "done":
        eta = 0
    elif job.state in JOB_ACTIVE and rate and job.total is not None:
        eta = round(max(0, job.total - job.done) / rate, 1)
    data = {
        "id": job.id,
        "app_id": job.app_id,
        "kind": job.kind,
        "state": job.state,
        "params": job.params,
        "done": job.done,
        "total": job.total,
        "percent": percent,
        "rate_per_second": rate,
        "eta_seconds": eta,
        "position": job.position,
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "error": job.error,
        "created_at": iso_z(job.created_at),
        "started_at": iso_z(job.started_at),
        "heartbeat_at": iso_z(job.heartbeat_at),
        "finished_at": iso_z(job.finished_at),
    }
    if with_result:
        data["result"] = job.result
    return data
