"""Working on a claimed job for one slice, with the runner of its kind.

The table of kinds lives here, not in runner.py: the kinds' modules import runner.py (Run,
JobError, create_job), and nothing there needs to import them back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.services.jobs.imports import Import
from app.services.jobs.revalidation import Revalidation
from app.services.jobs.runner import JobFailed, JobSettings, Lost, Run, Runner, claim, finish

log = logging.getLogger(__name__)
# Each kind's runner, made from the claimed Run and the settings.
KINDS: dict[str, Callable[[Run, JobSettings], Runner]] = {
    "revalidate": Revalidation,
    "import": Import,
}
# What run() says happened.
AGAIN, SETTLED, SKIPPED = "again", "settled", "skipped"


def run(
    job_id: int,
    settings: JobSettings,
    *,
    seconds: float | None = None,
    batches: int | None = None,
) -> str:
    """Work on a job for one slice (settings.slice_seconds, or `seconds` / `batches`).

    Returns AGAIN when the job was handed back to the queue to go on (the task queues it),
    SETTLED when it ended (done, cancelled, failed), SKIPPED when it was not this worker's to
    run. A database outage propagates and leaves the job running: recover_stalled resumes it.
    """
    claimed = claim(job_id)
    if claimed is None:
        return SKIPPED
    deadline = time.monotonic() + (settings.slice_seconds if seconds is None else seconds)
    try:
        runner = KINDS[claimed.kind](claimed, settings)
        if claimed.total is None:
            runner.begin()
        count = 0
        while True:
            if claimed.cancel_requested:
                finish(claimed, "cancelled")
                return SETTLED
            if not runner.step():
                finish(claimed, "done")
                return SETTLED
            count += 1
            if time.monotonic() > deadline or (batches is not None and count >= batches):
                finish(claimed, "queued")
                return AGAIN
    except Lost:
        log.info("job %s was taken over by another worker; this one stops", job_id)
        return SKIPPED
    except OperationalError:
        db.session.rollback()
        raise
    except JobFailed as exc:
        db.session.rollback()
        finish(claimed, "failed", str(exc))
        return SETTLED
    except Exception as exc:
        db.session.rollback()
        log.exception("job %s failed", job_id)
        finish(claimed, "failed", f"Internal error: {type(exc).__name__}: {exc}"[:2000])
        return SETTLED
