"""The query API: events, task state, dead letters, test runs.

A request is authenticated by the app's read key or by the dashboard session of its owner.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import partial

import redis
from flask import Blueprint, current_app, request
from flask_login import current_user
from kombu.exceptions import KombuError

from app.api.cursors import decode_id, decode_position, encode_id, encode_position
from app.api.long_poll import poll, wait_slot
from app.errors import ApiError
from app.extensions import csrf
from app.models import DeadLetter, TrackedApp
from app.request_args import MAX_BIG_ID, MAX_ID, int_arg
from app.services.apps import app_by_read_key, apps_of, owned_app
from app.services.ingestion.run_counts import Counts
from app.services.ingestion.task_ids import issued_at
from app.services.statistics import overview
from app.services.statistics.regressions import regression_report
from app.services.statistics.run_expectations import find_run
from app.services.statistics.run_reports import list_test_runs, test_run_report
from app.services.statistics.run_settlement import settlement, stored_count
from app.services.storage import task_history
from app.services.storage.dead_letters import (
    dead_letter_detail,
    dead_letter_to_dict,
    discard_dead_letter,
    get_dead_letter,
    list_dead_letters,
    replay,
)
from app.services.storage.events import (
    FILTERS,
    event_to_dict,
    list_events,
    task_state,
)
from app.task_states import LISTED_TASK_STATES
from app.tasks.events import queue_events
from app.time_text import iso_z
from app.validation.verdict import STATUSES

api = Blueprint("api", __name__, url_prefix="/api")
MAX_LIMIT = 500
MAX_RUNS = 100  # runs per page: each one's events are counted


def authenticated_app(app_id: int | None = None) -> TrackedApp:
    """The app the request may see: its read key's, or one its dashboard session's user owns.

    An app the credentials do not reach is a 404, the same as one that does not exist.
    """
    if "Authorization" not in request.headers and current_user.is_authenticated:
        return _session_app(app_id)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "unauthorized",
            "Send the app's read key as 'Authorization: Bearer <read key>', "
            "or log in to the dashboard as the app's owner.",
        )
    app = app_by_read_key(token.strip())
    if app is None:
        raise ApiError(401, "unauthorized", "This read key belongs to no app.")
    if app_id is not None and app.id != app_id:
        raise ApiError(404, "not_found", f"No app {app_id} is visible with this key.")
    return app


def _session_app(app_id: int | None) -> TrackedApp:
    """The signed-in user's app `app_id` (or named by `?app_id=`, or their only one)."""
    config = current_app.config
    if config["WTF_CSRF_ENABLED"] and request.method in config["WTF_CSRF_METHODS"]:
        # The browser sends the session cookie with any site's request: a change needs the
        # page's token too (CSRFError, answered as `csrf_failed`). The blueprint is exempt
        # from the automatic check because read-key clients have no token and need none.
        csrf.protect()
    if app_id is None:
        if "app_id" not in request.args:
            owned = apps_of(current_user.id)
            if len(owned) != 1:
                raise ApiError(400, "invalid_parameter", "Name the app with ?app_id=<id>.")
            return owned[0]
        app_id = int_arg("app_id", 0, 1, MAX_ID)
    app = owned_app(current_user.id, app_id) if 0 < app_id <= MAX_ID else None
    if app is None:
        raise ApiError(404, "not_found", f"No app {app_id} is visible to you.")
    return app


def cursor_arg() -> int | None:
    """The `cursor` query parameter as the id a page starts before, or None for the first page."""
    cursor = request.args.get("cursor")
    try:
        return decode_id(cursor) if cursor else None
    except ValueError:
        raise ApiError(400, "invalid_parameter", "cursor is not one this API gave out.")


def _since() -> datetime | None:
    return time_arg("since")


def time_arg(name: str) -> datetime | None:
    """The query parameter `name` as a UTC time (ISO 8601; no offset means UTC), or None."""
    value = request.args.get(name)
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ApiError(400, "invalid_parameter", f"{name} must be an ISO 8601 time.")


@api.get("/apps/<int:app_id>/events")
def app_events(app_id: int):
    """The app's events, newest first, filtered, one page per cursor.
    ---
    get:
      tags: [events]
      parameters:
        - {in: query, schema: EventQuerySchema}
      responses:
        200: EventPage
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    filters = {name: request.args[name] for name in FILTERS if request.args.get(name)}
    if filters.get("status", STATUSES[0]) not in STATUSES:
        # An unknown status matches nothing: say so rather than answer an empty page.
        raise ApiError(400, "invalid_parameter", f"status must be one of {', '.join(STATUSES)}.")
    limit = int_arg("limit", 50, 1, MAX_LIMIT)
    before_id = cursor_arg()
    rows, next_id = list_events(app.id, filters, _since(), limit, before_id)
    return {
        "events": [event_to_dict(row) for row in rows],
        "next_cursor": encode_id(next_id) if next_id is not None else None,
    }


@api.get("/tasks/<task_id>")
def task(task_id: str):
    """queued | stored | failed for a task id this app was given; `?wait=N` long-polls.
    ---
    get:
      tags: [tasks]
      parameters:
        - {in: query, schema: TaskWaitQuerySchema}
      responses:
        200: Task
        401: Unauthorized
        404: NotFound
        429: TooManyRequests
    """
    app = authenticated_app()
    app_id = app.id  # read once: the polls below end transactions, which expire `app`
    config = current_app.config
    wait = int_arg("wait", 0, 0, config["TASK_WAIT_MAX_SECONDS"])
    issued = issued_at(config["SECRET_KEY"].encode(), app_id, task_id)
    retention = config["TASK_RETENTION_DAYS"] * 86400
    known = issued is not None and issued > time.time() - retention
    state = task_state(app_id, task_id)
    if state is not None:
        return state
    if not known:
        raise ApiError(404, "not_found", "No task with this id was issued to this app.")
    if wait == 0:
        return {"task_id": task_id, "state": "queued"}
    with wait_slot(app_id):
        state = poll(lambda: task_state(app_id, task_id), time.monotonic() + wait)
    return state if state is not None else {"task_id": task_id, "state": "queued"}


@api.get("/apps/<int:app_id>/dead-letters")
def app_dead_letters(app_id: int):
    """The app's dead letters, newest first (`?all=1` includes replayed ones).
    ---
    get:
      tags: [dead letters]
      parameters:
        - {in: query, schema: DeadLetterQuerySchema}
      responses:
        200: DeadLetters
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    limit = int_arg("limit", 100, 1, MAX_LIMIT)
    pending_only = request.args.get("all") not in ("1", "true")
    rows = list_dead_letters(app.id, pending_only=pending_only, limit=limit)
    return {"dead_letters": [dead_letter_to_dict(row) for row in rows]}


@api.post("/apps/<int:app_id>/dead-letters/replay")
def replay_app_dead_letters(app_id: int):
    """Queue dead letters again: `{"ids": [...]}`, or every pending one without a body.
    ---
    post:
      tags: [dead letters]
      requestBody:
        content:
          application/json: {schema: ReplaySchema}
      responses:
        200: Replayed
        401: Unauthorized
        404: NotFound
        503: Unavailable
    """
    app = authenticated_app(app_id)
    body = request.get_json(silent=True) or {}
    ids = body.get("ids") if isinstance(body, dict) else None
    if ids is not None and not (
        isinstance(ids, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise ApiError(400, "invalid_parameter", "ids must be a list of dead letter ids.")
    pending = list_dead_letters(app.id, pending_only=True, limit=10_000)
    chosen = [d for d in pending if ids is None or d.id in set(ids)]
    try:
        replayed = replay(chosen, queue_events)
    except (KombuError, redis.RedisError, OSError):
        raise ApiError(
            503,
            "unavailable",
            "The queue is unreachable; retry shortly.",
            headers={"Retry-After": "1"},
        )
    return {"replayed": replayed, "ids": [d.id for d in chosen]}


@api.get("/test-runs")
def test_run_by_name():
    """The report of the run named by ?name= (every run, even "." or "..", which no path reaches);
    `?wait=S` long-polls until the run has settled.
    ---
    get:
      tags: [events]
      parameters:
        - {in: query, name: name, required: true, schema: {type: string},
           description: "The test run's name, percent-encoded."}
        - {in: query, schema: RunWaitQuerySchema}
      responses:
        200: TestRunReport
        400: BadRequest
        401: Unauthorized
        404: NotFound
        429: TooManyRequests
    """
    name = request.args.get("name")
    if not name:
        raise ApiError(400, "invalid_parameter", "Name the test run with ?name=<run>.")
    return test_run(name)


@api.get("/test-runs/<path:test_run>")
def test_run(test_run: str):
    """The pass/fail report of one test run of the read key's app (a CI job's release gate),
    with its settlement; `?wait=S` holds the answer until the run has settled (every event it
    had accepted is stored or dead-lettered) or S seconds passed.
    ---
    get:
      tags: [events]
      parameters:
        - {in: query, schema: RunWaitQuerySchema}
      responses:
        200: TestRunReport
        401: Unauthorized
        404: NotFound
        429: TooManyRequests
    """
    app = authenticated_app()
    app_id = app.id  # read once: the polls below end transactions, which expire `app`
    wait = int_arg("wait", 0, 0, current_app.config["TASK_WAIT_MAX_SECONDS"])
    counts = _run_counts(app_id, test_run)
    if (
        counts is None
        and stored_count(app_id, test_run) == 0
        and find_run(app_id, test_run) is None
    ):
        raise ApiError(404, "not_found", f"App {app_id} has never heard of test run {test_run!r}.")
    # A run already settled is answered at once, without taking one of the slots others wait in.
    if wait and not _settled(app_id, test_run, counts):
        with wait_slot(app_id):
            # The counts once settled, or None at the deadline (or when the client hung up).
            settled = poll(lambda: _settled_counts(app_id, test_run), time.monotonic() + wait)
        counts = settled or _run_counts(app_id, test_run)
    report = test_run_report(app_id, test_run, counts)
    if report is None:  # it was known before the wait: only a race with retention gets here
        raise ApiError(404, "not_found", f"App {app_id} has never heard of test run {test_run!r}.")
    return report


def _run_counts(app_id: int, test_run: str) -> Counts | None:
    """The run's admission counts; 503 when Redis cannot be asked."""
    try:
        return current_app.extensions["run_counts"].read(app_id, test_run)
    except redis.RedisError:
        raise ApiError(
            503, "unavailable", "Redis is unreachable; retry shortly.", headers={"Retry-After": "1"}
        )


def _settled(app_id: int, test_run: str, counts: Counts | None) -> bool:
    return settlement(app_id, test_run, counts, stored_count(app_id, test_run))["settled"]


def _settled_counts(app_id: int, test_run: str) -> Counts | None:
    """One look of the run's long-poll (cheap: two counts): its counts if it has settled."""
    counts = _run_counts(app_id, test_run)
    return counts if counts is not None and _settled(app_id, test_run, counts) else None


@api.get("/apps/<int:app_id>/test-runs")
def app_test_runs(app_id: int):
    """The app's test runs, the most recently active first (`?limit=`, `?cursor=`): status,
    counts by verdict, first and last event times.
    ---
    get:
      tags: [events]
      parameters:
        - {in: query, schema: TestRunListQuerySchema}
      responses:
        200: TestRunPage
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    limit = int_arg("limit", 20, 1, MAX_RUNS)
    before_id = cursor_arg()
    runs, next_id = list_test_runs(app.id, limit, before_id, partial(_run_counts, app.id))
    return {
        "test_runs": runs,
        "next_cursor": encode_id(next_id) if next_id is not None else None,
    }


@api.get("/apps/<int:app_id>/overview")
def app_overview(app_id: int):
    """The overview chart's numbers: counts by status per minute, hour or day of a window
    (`?window=1h|3h|6h|24h|7d|30d`, `?resolution=minute|hour|day`), and the plan publishes in it.
    ---
    get:
      tags: [events]
      parameters:
        - {in: query, schema: OverviewQuerySchema}
      responses:
        200: Overview
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    window = request.args.get("window", "24h")
    if window not in overview.WINDOWS:
        raise ApiError(
            400, "invalid_parameter", f"window must be one of {', '.join(overview.WINDOWS)}."
        )
    allowed = overview.WINDOW_RESOLUTIONS[window]
    resolution = request.args.get("resolution", allowed[0])
    if resolution not in allowed:
        raise ApiError(
            400,
            "invalid_parameter",
            f"resolution must be one of {', '.join(allowed)} for window {window} "
            "(minutes for 6 hours at most).",
        )
    buckets, _ = overview.window_counts(app.id, overview.WINDOWS[window], resolution)
    publishes = overview.plan_publishes(app.id, buckets[0].start)
    return {
        "window": window,
        "resolution": resolution,
        "buckets": [
            {
                "start": iso_z(b.start),
                "valid": b.valid,
                "invalid": b.invalid,
                "unplanned": b.unplanned,
                "total": b.total,
            }
            for b in buckets
        ],
        "plan_publishes": [{"version": v, "published_at": iso_z(at)} for v, at in publishes],
        "statistics_as_of": iso_z(overview.last_aggregated()),
    }


@api.get("/apps/<int:app_id>/regressions")
def regressions(app_id: int):
    """What changed in violations from app version `base` to `head` (a release gate for CI).
    ---
    get:
      tags: [events]
      parameters:
        - {in: query, schema: RegressionQuerySchema}
      responses:
        200: RegressionReport
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    base, head = request.args.get("base", "").strip(), request.args.get("head", "").strip()
    if not base or not head:
        raise ApiError(400, "invalid_parameter", "Name two app versions: ?base=2.3.0&head=2.3.1")
    report = regression_report(app.id, base, head)
    if report is None:
        raise ApiError(
            404, "not_found", f"The statistics hold no events of app version {base!r} or {head!r}."
        )
    return report


# --- tasks and dead letters (issue 8) -----------------------------------------------------------

# Statistics read every row of their window (for the latency percentiles): one day at most.
STATS_DEFAULT_WINDOW = timedelta(hours=1)
STATS_MAX_WINDOW = timedelta(hours=24)


def _dead_letter_or_404(app: TrackedApp, dead_letter_id: int) -> DeadLetter:
    dead = get_dead_letter(app.id, dead_letter_id) if dead_letter_id <= MAX_BIG_ID else None
    if dead is None:
        raise ApiError(404, "not_found", f"App {app.id} has no dead letter {dead_letter_id}.")
    return dead


@api.get("/apps/<int:app_id>/dead-letters/<int:dead_letter_id>")
def app_dead_letter(app_id: int, dead_letter_id: int):
    """One dead letter in full: its message, error, task, times, and whether it is pending.
    ---
    get:
      tags: [dead letters]
      responses:
        200: DeadLetter
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    return dead_letter_detail(_dead_letter_or_404(app, dead_letter_id))


@api.post("/apps/<int:app_id>/dead-letters/<int:dead_letter_id>/discard")
def discard_app_dead_letter(app_id: int, dead_letter_id: int):
    """Give up on a dead letter: it leaves the list, and its task reads `discarded`.
    ---
    post:
      tags: [dead letters]
      responses:
        200: Discarded
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    dead = _dead_letter_or_404(app, dead_letter_id)
    task_id = dead.task_id
    discard_dead_letter(dead)
    return {"discarded": dead_letter_id, "task_id": task_id}


def _window() -> tuple[datetime | None, datetime | None]:
    since, until = time_arg("since"), time_arg("until")
    if since is not None and until is not None and since > until:
        raise ApiError(400, "invalid_parameter", "since must not be after until.")
    return since, until


@api.get("/apps/<int:app_id>/tasks")
def app_tasks(app_id: int):
    """The app's stored and failed tasks, newest first (`?state=`, `?since=`, `?until=`,
    `?limit=`, `?cursor=`), with accept-to-store latency or the error.
    ---
    get:
      tags: [tasks]
      parameters:
        - {in: query, schema: TaskListQuerySchema}
      responses:
        200: TaskPage
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    state = request.args.get("state") or None
    if state is not None and state not in LISTED_TASK_STATES:
        raise ApiError(
            400,
            "invalid_parameter",
            f"state must be one of {', '.join(LISTED_TASK_STATES)} (queued and duplicate tasks "
            "leave no row to list: ask GET /api/tasks/<task_id>).",
        )
    since, until = _window()
    limit = int_arg("limit", 50, 1, MAX_LIMIT)
    cursor = request.args.get("cursor")
    try:
        after = decode_position(cursor) if cursor else None
    except ValueError:
        raise ApiError(400, "invalid_parameter", "cursor is not one this API gave out.")
    page, next_position = task_history.list_tasks(app.id, state, since, until, limit, after)
    return {
        "tasks": page,
        "next_cursor": encode_position(next_position) if next_position is not None else None,
    }


@api.get("/apps/<int:app_id>/tasks/stats")
def app_task_stats(app_id: int):
    """Stored and failed counts, rates per minute and accept-to-store latency of the tasks
    accepted in a window (`?since=`, default an hour ago; `?until=`, default now; 24 h at most).
    ---
    get:
      tags: [tasks]
      parameters:
        - {in: query, schema: WindowQuerySchema}
      responses:
        200: TaskStats
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    since, until = _window()
    until = until or datetime.now(UTC)
    since = since or until - STATS_DEFAULT_WINDOW
    if since >= until:
        raise ApiError(400, "invalid_parameter", "since must be before until.")
    if until - since > STATS_MAX_WINDOW:
        raise ApiError(
            400, "invalid_parameter", "The window (since to until) may be 24 hours at most."
        )
    return task_history.task_stats(app.id, since, until)
