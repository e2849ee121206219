"""Native ingestion endpoints: `POST /api/logs/<app_key>` and `…/batch`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request
from werkzeug.wrappers import Request

from app.errors import ApiError
from app.ingest.body import read_json_body
from app.ingest.cors import allow_cross_origin
from app.ingest.endpoint_steps import accept_batch, accept_one, lookup_app, request_info
from app.services.ingestion.verdicts import prepare_native

ingest = Blueprint("ingest", __name__)
allow_cross_origin(ingest)  # a web page may post native events too


@ingest.post("/api/logs/<app_key>")
def log_event(app_key: str):
    """Validate one event, queue it and answer 202 with its verdict.
    ---
    post:
      tags: [native ingestion]
      description: >-
        Properties are the event's top-level fields. gzip with
        `Content-Encoding: gzip`; `text/plain` bodies (browser beacons) are read as JSON too;
        `X-Test-Run` names a test run.
      requestBody:
        required: true
        content:
          application/json: {schema: NativeEventDocSchema}
      responses:
        202: Verdict
        401: Unauthorized
        413: PayloadTooLarge
        415: UnsupportedMediaType
        429: TooManyRequests
        503: Unavailable
    """
    return one_event(request, app_key), 202


@ingest.post("/api/logs/<app_key>/batch")
def log_batch(app_key: str):
    """Validate a batch; each event is answered in its slot, a malformed one as `rejected`.
    ---
    post:
      tags: [native ingestion]
      description: '`{"events": [...]}` or a bare JSON array of events.'
      requestBody:
        required: true
        content:
          application/json: {schema: NativeBatchSchema}
      responses:
        202: BatchAnswer
        401: Unauthorized
        413: PayloadTooLarge
        415: UnsupportedMediaType
        429: TooManyRequests
        503: Unavailable
    """
    return batch_of_events(request, app_key), 202


# What the two views answer, from a request of Flask's or werkzeug's own (app/ingest/fast_lane.py
# calls these with the latter, in an app context).


def one_event(request: Request, app_key: str) -> dict[str, Any]:
    """The verdict of the request's one event, queued."""
    info = request_info(lookup_app(app_key, "ingest"), app_key, request)
    body = read_json_body(request, current_app.config["MAX_REQUEST_BYTES"])
    return accept_one(info, lambda: prepare_native(body, info))


def batch_of_events(request: Request, app_key: str) -> dict[str, Any]:
    """The verdict of each event of the request's batch; the accepted ones queued."""
    info = request_info(lookup_app(app_key, "ingest"), app_key, request)
    body = read_json_body(request, current_app.config["MAX_REQUEST_BYTES"])
    events = body.get("events") if isinstance(body, dict) else body
    if not isinstance(events, list):
        raise ApiError(400, "invalid_batch", 'A batch is {"events": [...]} or a JSON array.')
    return accept_batch(info, events, lambda raw: prepare_native(raw, info))
