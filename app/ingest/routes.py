"""Native ingestion endpoints: `POST /api/logs/<app_key>` and `…/batch`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request

from app.errors import ApiError
from app.ingest.accept import EventError, Prepared, RequestInfo, accept, prepare_native
from app.ingest.body import read_json_body
from app.models.types import utcnow
from app.services.app_directory import AppEntry

ingest = Blueprint("ingest", __name__)
COUNTED = ("valid", "invalid", "unplanned", "duplicate", "rejected")


def _entry(app_key: str) -> AppEntry:
    entry = current_app.extensions["app_directory"].lookup(app_key)
    if entry is None:
        raise ApiError(401, "unknown_app_key", "No app has this write key.")
    return entry


def _request_info(entry: AppEntry) -> RequestInfo:
    config = current_app.config
    test_run = request.headers.get("X-Test-Run")
    return RequestInfo(
        entry=entry,
        received_at=utcnow(),
        test_run=test_run[:255] if test_run else None,
        secret=config["SECRET_KEY"].encode(),
        max_event_bytes=config["MAX_EVENT_BYTES"],
    )


@ingest.post("/api/logs/<app_key>")
def log_event(app_key: str):
    """Validate one event, queue it and answer 202 with its verdict."""
    entry = _entry(app_key)
    body = read_json_body(request, current_app.config["MAX_REQUEST_BYTES"])
    try:
        prepared = prepare_native(body, _request_info(entry))
    except EventError as exc:
        raise exc.api_error()
    accept(entry.app_id, [prepared], current_app.extensions["dedup"])
    return prepared.answer, 202


@ingest.post("/api/logs/<app_key>/batch")
def log_batch(app_key: str):
    """Validate a batch; each event is answered in its slot, a malformed one as `rejected`."""
    entry = _entry(app_key)
    body = read_json_body(request, current_app.config["MAX_REQUEST_BYTES"])
    events = body.get("events") if isinstance(body, dict) else body
    if not isinstance(events, list):
        raise ApiError(400, "invalid_batch", 'A batch is {"events": [...]} or a JSON array.')
    limit = current_app.config["MAX_BATCH_EVENTS"]
    if len(events) > limit:
        raise ApiError(413, "batch_too_large", f"A batch may hold at most {limit} events.")
    info = _request_info(entry)
    results: list[dict[str, Any]] = []
    prepared: list[Prepared] = []
    for raw in events:
        try:
            item = prepare_native(raw, info)
        except EventError as exc:
            results.append(exc.rejected())
        else:
            prepared.append(item)
            results.append(item.answer)  # the same dict: accept() marks duplicates in place
    accept(entry.app_id, prepared, current_app.extensions["dedup"])
    counts = dict.fromkeys(COUNTED, 0)
    for result in results:
        counts[result["status"]] += 1
    return {"results": results, "counts": counts}, 202
