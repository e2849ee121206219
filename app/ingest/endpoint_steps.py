"""What every ingestion endpoint does alike: find the app, describe the request, judge a batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Request

from app import metrics
from app.errors import ApiError
from app.models.types import utcnow
from app.services.ingestion.admission import admit_request, unavailable
from app.services.ingestion.app_directory import AppEntry
from app.services.ingestion.stored_event import TEST_RUN_MAX, text_problem
from app.services.ingestion.verdicts import EventError, Prepared, RequestInfo
from app.validation.verdict import ANSWERS

# How each ingestion blueprint takes its write key, said when a request brings none.
HOW_TO_SEND_KEY = {
    "sdk": "Send the app's write key as the HTTP Basic user name (the password empty) "
    'or as "writeKey" in the JSON body.',
    "ingest": "The app's write key goes in the URL path: POST /api/logs/<write key>.",
}


def lookup_app(write_key: str | None, blueprint: str) -> AppEntry:
    """The app of a write key (cached), or 401 with the advice of the endpoint's `blueprint`."""
    # KeyError for an ingestion blueprint not listed above: add its advice there.
    how_to_send_key = HOW_TO_SEND_KEY[blueprint]
    if not write_key:
        raise ApiError(401, "unknown_app_key", f"No write key was sent. {how_to_send_key}")
    if text_problem(write_key):
        # No key holds NUL or a lone surrogate, and PostgreSQL cannot even be asked about one.
        raise ApiError(401, "unknown_app_key", "No app has this write key.")
    try:
        entry = current_app.extensions["app_directory"].lookup(write_key)
    except SQLAlchemyError:
        raise unavailable("The database is unreachable and this key is not cached; retry shortly.")
    if entry is None:
        raise ApiError(401, "unknown_app_key", f"No app has this write key. {how_to_send_key}")
    return entry


def request_info(entry: AppEntry, write_key: str, request: Request) -> RequestInfo:
    """What the events of this request share."""
    config = current_app.config
    return RequestInfo(
        entry=entry,
        write_key=write_key,
        received_at=utcnow(),
        test_run=_test_run_header(request),
        secret=config["SECRET_KEY"].encode(),
        max_event_bytes=config["MAX_EVENT_BYTES"],
    )


def _test_run_header(request: Request) -> str | None:
    """The X-Test-Run header as UTF-8 text, or 400: cut or misread, runs would merge."""
    value = request.headers.get("X-Test-Run")
    if not value:
        return None
    try:
        # WSGI hands header bytes over as Latin-1; clients send names as UTF-8.
        value = value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise ApiError(400, "invalid_header", "The X-Test-Run header is not UTF-8.")
    if problem := text_problem(value):
        raise ApiError(400, "invalid_header", f"The X-Test-Run header {problem}.")
    if len(value) > TEST_RUN_MAX:
        raise ApiError(
            400,
            "invalid_header",
            f"The X-Test-Run header is longer than {TEST_RUN_MAX} characters.",
        )
    return value


def accept_one(info: RequestInfo, prepare: Callable[[], Prepared]) -> dict[str, Any]:
    """Judge and queue a single event; a malformed one fails the request (400/413)."""
    try:
        prepared = prepare()
    except EventError as exc:
        metrics.count_verdict("rejected")
        raise exc  # answered alone: its own status and body
    admit_request(info, [prepared], current_app.extensions["admission"])
    metrics.count_verdict(prepared.answer["status"])
    return prepared.answer


def accept_batch(
    info: RequestInfo, events: Any, prepare: Callable[[Any], Prepared]
) -> dict[str, Any]:
    """Judge and queue a batch: one answer per event in order, a malformed one `rejected`."""
    if not isinstance(events, list):
        raise ApiError(400, "invalid_batch", "A batch holds a JSON array of events.")
    limit = current_app.config["MAX_BATCH_EVENTS"]
    if len(events) > limit:
        raise ApiError(413, "batch_too_large", f"A batch may hold at most {limit} events.")
    results: list[dict[str, Any]] = []
    prepared: list[Prepared] = []
    for raw in events:
        try:
            item = prepare(raw)
        except EventError as exc:
            results.append(exc.rejected())
        else:
            prepared.append(item)
            results.append(item.answer)  # the same dict: admit_request() marks duplicates in place
    admit_request(info, prepared, current_app.extensions["admission"])
    counts = dict.fromkeys(ANSWERS, 0)
    for result in results:
        counts[result["status"]] += 1
    metrics.count_verdicts(counts)
    return {"results": results, "counts": counts}
