"""The jobs API: list an app's jobs, start one (a re-validation, or an import of an uploaded
file), follow its progress and result, cancel it.

A re-validation is started with JSON: `{"kind": "revalidate", "plan_version": N | "plan": {...},
"since"?, "until"?}`. An import uploads its NDJSON (or gzip) file as multipart/form-data (field
`file`), or as the raw body (application/x-ndjson or application/gzip, `?kind=import`).
Cancelling a finished job is a 409 `job_finished`: nothing was changed, and the client learns
that its cancel came too late.
"""

from __future__ import annotations

import time

from flask import current_app, request, url_for

from app.api.long_poll import poll, wait_slot
from app.api.routes import MAX_LIMIT, api, authenticated_app
from app.errors import ApiError
from app.models import Job, TrackedApp
from app.request_args import MAX_ID, int_arg
from app.services.ingestion.json_text import parse_strict_json
from app.services.jobs import imports, revalidation
from app.services.jobs import runner as jobs
from app.task_states import JOB_FINISHED, JOB_STATES
from app.tasks.jobs import queue_job

RAW_UPLOAD_TYPES = (
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/gzip",
    "application/x-gzip",
)
# Room for multipart boundaries and headers beyond the file itself.
FORM_OVERHEAD = 64 * 1024


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name)
    if value and value not in allowed:
        raise ApiError(400, "invalid_parameter", f"{name} must be one of {', '.join(allowed)}.")
    return value or None


def _job_or_404(app: TrackedApp, job_id: int) -> Job:
    job = jobs.get_job(app.id, job_id) if job_id <= MAX_ID else None
    if job is None:
        raise ApiError(404, "not_found", f"App {app.id} has no job {job_id}.")
    return job


@api.get("/apps/<int:app_id>/jobs")
def app_jobs(app_id: int):
    """The app's jobs, newest first (`?state=`, `?kind=`, `?limit=`), without their results.
    ---
    get:
      tags: [jobs]
      parameters:
        - {in: query, schema: JobQuerySchema}
      responses:
        200: Jobs
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    state, kind = _choice("state", JOB_STATES), _choice("kind", jobs.KINDS)
    limit = int_arg("limit", 50, 1, MAX_LIMIT)
    rows = jobs.list_jobs(app.id, state, kind, limit)
    return {"jobs": [jobs.job_to_dict(job, with_result=False) for job in rows]}


def _upload_kind(kind: str | None) -> None:
    if (kind or "import") != "import":
        raise ApiError(400, "invalid_kind", "An uploaded file starts an import (kind=import).")


def _start(app: TrackedApp) -> Job:
    mimetype = request.mimetype
    if mimetype == "application/json":
        body = parse_strict_json(request.get_data())
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_parameter", 'Send {"kind": "revalidate", ...}.')
        kind = body.get("kind")
        if kind == "revalidate":
            return revalidation.create(app, body)
        if kind == "import":
            raise ApiError(
                415,
                "unsupported_media_type",
                "Upload the file to import as multipart/form-data (field `file`), or as the "
                "body with Content-Type application/x-ndjson or application/gzip.",
            )
        raise ApiError(400, "invalid_kind", "kind must be revalidate or import.")
    if mimetype == "multipart/form-data":
        _upload_kind(request.args.get("kind") or request.form.get("kind"))
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(400, "file_required", "Send the file in the form field `file`.")
        data = upload.read(current_app.config["IMPORT_MAX_BYTES"] + 1)
        return imports.create(
            app, upload.filename or "upload.ndjson", data, current_app.config["IMPORT_MAX_BYTES"]
        )
    if mimetype in RAW_UPLOAD_TYPES:
        _upload_kind(request.args.get("kind"))
        data = request.get_data(cache=False)
        filename = request.args.get("filename") or "upload.ndjson"
        return imports.create(app, filename, data, current_app.config["IMPORT_MAX_BYTES"])
    raise ApiError(
        415,
        "unsupported_media_type",
        f"Send JSON to start a re-validation, or an NDJSON or gzip file to import, "
        f"not {mimetype or 'a body without a Content-Type'}.",
    )


@api.post("/apps/<int:app_id>/jobs")
def start_job(app_id: int):
    """Start a job: 201 with it; its progress is then at its Location.
    ---
    post:
      tags: [jobs]
      description: >-
        JSON starts a re-validation; a file (multipart field `file`, or the raw
        body as NDJSON or gzip) starts an import.
      parameters:
        - {in: query, schema: JobStartQuerySchema}
      requestBody:
        required: true
        content:
          application/json: {schema: RevalidateSchema}
          multipart/form-data: {schema: UploadSchema}
          application/x-ndjson: {schema: {type: string}}
      responses:
        201: Job
        401: Unauthorized
        404: NotFound
        409: Conflict
        413: PayloadTooLarge
        415: UnsupportedMediaType
    """
    if request.mimetype != "application/json":
        # Set before anything reads the body (the CSRF check of a session reads the form).
        request.max_content_length = current_app.config["IMPORT_MAX_BYTES"] + FORM_OVERHEAD
    app = authenticated_app(app_id)
    job = _start(app)
    queue_job(job.id)  # after the commit; if the broker is away, beat queues it later
    location = url_for("api.app_job", app_id=app.id, job_id=job.id)
    return jobs.job_to_dict(job), 201, {"Location": location}


@api.get("/apps/<int:app_id>/jobs/<int:job_id>")
def app_job(app_id: int, job_id: int):
    """One job: state, progress (done, total, percent, rate, ETA), result, error, times;
    `?wait=S` holds the answer until the job is finished (done, failed or cancelled) or S
    seconds passed.
    ---
    get:
      tags: [jobs]
      parameters:
        - {in: query, schema: JobWaitQuerySchema}
      responses:
        200: Job
        401: Unauthorized
        404: NotFound
        429: TooManyRequests
    """
    app = authenticated_app(app_id)
    app_id = app.id  # read once: the polls below end transactions, which expire `app`
    wait = int_arg("wait", 0, 0, current_app.config["TASK_WAIT_MAX_SECONDS"])
    job = _job_or_404(app, job_id)
    if wait and job.state not in JOB_FINISHED:
        with wait_slot(app_id):
            poll(lambda: jobs.finished_job(app_id, job_id), time.monotonic() + wait)
        job = _job_or_404(app, job_id)  # as it is now, finished or not
    return jobs.job_to_dict(job)


@api.post("/apps/<int:app_id>/jobs/<int:job_id>/cancel")
def cancel_job(app_id: int, job_id: int):
    """Cancel a job: a queued one at once, a running one after its current batch.
    ---
    post:
      tags: [jobs]
      responses:
        200: Job
        401: Unauthorized
        404: NotFound
        409: Conflict
    """
    app = authenticated_app(app_id)
    job = jobs.cancel(_job_or_404(app, job_id))
    return jobs.job_to_dict(job)
