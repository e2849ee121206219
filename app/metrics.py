"""Prometheus metrics: the families, the calls that count, and the scrape behind `GET /metrics`.

gunicorn serves from several worker processes and Celery forks a pool of its own, so a count
kept in one process's memory is a fraction of the truth. With PROMETHEUS_MULTIPROC_DIR set (the
full profile: `make up` sets it for gunicorn and the Celery workers, and empties the folder when
it starts), prometheus_client writes every process's values to files there and the scrape adds
them up. Without it (micro, where one process does everything, and in-process tests) values stay
in this process. The variable is read here and by prometheus_client itself at import, not in
app/config.py: the choice must be made before any metric exists, whatever app is configured.

Gauges of state (queue depths, dead letters) belong to no process: the scrape reads them from
Redis and the database, in bounded time, and leaves out what it could not read.
"""

from __future__ import annotations

import logging
import os
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from celery.signals import task_failure
from flask import Flask, Response, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from app.extensions import db
from app.services.probes import pending_dead_letters, prober, queue_depth_look
from app.validation.verdict import ANSWERS

log = logging.getLogger(__name__)

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if MULTIPROC_DIR:
    # A missing folder would fail the first request that counts something, not the start.
    Path(MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

# The same families with and without the folder: multiprocess mode has no `_created` series.
disable_created_metrics()


# Labels are the Flask endpoint (`ingest.log_event`), never the path: keys in paths would make
# a series per app. Requests no route matched are `unmatched`.
HTTP_REQUESTS = Counter(
    "lvd_http_requests",
    "HTTP requests answered, by Flask endpoint and status.",
    ["endpoint", "status"],
    registry=None,
)
HTTP_SECONDS = Histogram(
    "lvd_http_request_duration_seconds",
    "Time from the first request hook to the response, by Flask endpoint and status.",
    ["endpoint", "status"],
    # Ingestion answers in 1-2 ms; long-polls (`?wait=`) take up to their wait.
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=None,
)
EVENTS = Counter(
    "lvd_events",
    "Events answered by the ingestion endpoints, by verdict; a malformed event (answered 400 "
    "or 413 alone, or in its batch slot) is `rejected`. No per-app labels.",
    ["verdict"],
    registry=None,
)
TASK_FAILURES = Counter(
    "lvd_task_failures",
    "Celery tasks that ended with an error (retries are not failures), by task name.",
    ["task"],
    registry=None,
)
ACCEPT_TO_STORE = Histogram(
    "lvd_accept_to_store_seconds",
    "From an event's 2xx answer (received_at) to its row being stored, per stored event.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
    registry=None,
)
QUARANTINED = Counter(
    "lvd_quarantined",
    "Queued events (or stream entries that could not be read as events) that could not be "
    "stored and were set aside as dead letters, so that those behind them were stored.",
    registry=None,
)
FAMILIES = (HTTP_REQUESTS, HTTP_SECONDS, EVENTS, TASK_FAILURES, ACCEPT_TO_STORE, QUARANTINED)

# Bound once: a verdict's count is one increment on the request path, no label lookup. Every
# verdict shows from the start, at 0.
_VERDICT_COUNTERS = {verdict: EVENTS.labels(verdict) for verdict in ANSWERS}
_HTTP_CHILDREN: dict[tuple[str, int], tuple[Any, Any]] = {}


def count_verdict(verdict: str) -> None:
    """One event answered with this verdict."""
    try:
        _VERDICT_COUNTERS[verdict].inc()
    except Exception:  # the event is queued: a metric must not turn its 202 into a 500
        log.exception("verdict not counted")


def count_verdicts(counts: dict[str, int]) -> None:
    """A batch's events, {verdict: how many}."""
    try:
        for verdict, count in counts.items():
            if count:
                _VERDICT_COUNTERS[verdict].inc(count)
    except Exception:  # the events are queued: a metric must not turn their 202 into a 500
        log.exception("verdicts not counted")


def count_quarantined(count: int = 1) -> None:
    """Events set aside as dead letters because they could not be stored."""
    try:
        QUARANTINED.inc(count)
    except Exception:  # counting never stops the drain
        log.exception("quarantine not counted")


def observe_stored(received: Iterable[tuple[str | datetime, int]]) -> None:
    """Accept-to-store latency of events stored just now: (received_at, how many)."""
    now = datetime.now(UTC)
    seconds_of: dict[str, float] = {}
    per_bucket: dict[int, int] = defaultdict(int)
    total = 0.0
    for received_at, count in received:
        seconds = seconds_of.get(received_at)
        if seconds is None:
            when = (
                datetime.fromisoformat(received_at) if isinstance(received_at, str) else received_at
            )
            seconds = max(0.0, (now - when).total_seconds())
            seconds_of[received_at] = seconds
        per_bucket[bisect_left(ACCEPT_TO_STORE._upper_bounds, seconds)] += count
        total += seconds * count
    if per_bucket:
        _observe_many(ACCEPT_TO_STORE, per_bucket, total)


def _observe_many(histogram: Histogram, per_bucket: dict[int, int], total: float) -> None:
    # Histogram.observe() adds one observation: two locked writes to the process's file (~6 µs
    # in multiprocess mode), too much per event on the storage path (whose own CPU is ~2 µs an
    # event, loadtests/RESULTS.md). This makes the same writes once per bucket: a bucket holds
    # its own observations and the exposition accumulates them, as observe() leaves them.
    # tests/ops/test_metrics_app.py checks it against observe() for the pinned version.
    histogram._sum.inc(total)
    for index, count in per_bucket.items():
        histogram._buckets[index].inc(count)


@task_failure.connect
def _count_task_failure(sender: Any = None, **_: Any) -> None:
    TASK_FAILURES.labels(getattr(sender, "name", None) or "unknown").inc()


def instrument(app: Flask) -> None:
    """Count and time every request of `app` by endpoint and status."""
    app.wsgi_app = _timed(app.wsgi_app)
    app.after_request(_observe_request)


STARTED = "lvd.started"


def _timed(wsgi_app: Any) -> Any:
    # The clock starts before Flask sees the request, and costs no context-local lookup
    # (each costs 1.5-3 µs; all of this module's work for a request is 8-14 µs).
    def timed(environ: dict[str, Any], start_response: Any) -> Any:
        environ[STARTED] = time.perf_counter()
        return wsgi_app(environ, start_response)

    return timed


def _observe_request(response: Response) -> Response:
    try:
        _count_request(response.status_code)
    except Exception:  # a metric never fails a request
        log.exception("request not counted")
    return response


def _count_request(status: int) -> None:
    current = request._get_current_object()  # one context-local lookup, not three
    count_request(current.endpoint or "unmatched", status, current.environ.get(STARTED))


def count_request(endpoint: str, status: int, started: float | None) -> None:
    """One answered request of `endpoint`, and its time since `started` (perf_counter)."""
    key = (endpoint, status)
    children = _HTTP_CHILDREN.get(key)
    if children is None:
        labels = (key[0], str(key[1]))
        children = _HTTP_CHILDREN[key] = (
            HTTP_REQUESTS.labels(*labels),
            HTTP_SECONDS.labels(*labels),
        )
    children[0].inc()
    if started is not None:  # None: a request context made without wsgi_app
        children[1].observe(time.perf_counter() - started)


def render(app: Flask) -> bytes:
    """The metrics of every process of this host, and the state gauges, in the text format."""
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROC_DIR:
        MultiProcessCollector(registry, path=MULTIPROC_DIR)
    else:
        for family in FAMILIES:
            registry.register(family)
    registry.register(_StateCollector(app))
    return generate_latest(registry)


class _StateCollector:
    """Queue depths and pending dead letters, read at scrape time."""

    def __init__(self, app: Flask) -> None:
        self._prober = prober(app)
        self._looks = {
            "queue_depth": queue_depth_look(app),
            "dead_letters": partial(pending_dead_letters, db.engine),
        }

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges of what could be read; success and duration of each look."""
        outcomes = self._prober.run(self._looks)
        success = GaugeMetricFamily(
            "lvd_scrape_collector_success",
            "1 when the scrape could read this state (Redis or the database), else 0.",
            labels=["collector"],
        )
        duration = GaugeMetricFamily(
            "lvd_scrape_collector_duration_seconds",
            "How long the scrape took to read this state.",
            labels=["collector"],
        )
        for name, outcome in outcomes.items():
            success.add_metric([name], 1 if outcome.ok else 0)
            duration.add_metric([name], outcome.ms / 1000)
            if not outcome.ok:
                log.warning("metrics: %s not read: %s", name, outcome.error)
        yield success
        yield duration
        depths = outcomes["queue_depth"]
        if depths.ok:
            family = GaugeMetricFamily(
                "lvd_queue_depth",
                "Messages waiting in each Celery queue; for the event stream (lvd:events), "
                "entries waiting to be stored (one per accepted request).",
                labels=["queue"],
            )
            for queue, depth in depths.value.items():
                family.add_metric([queue], depth)
            yield family
        dead = outcomes["dead_letters"]
        if dead.ok:
            yield GaugeMetricFamily(
                "lvd_dead_letters_pending",
                "Dead letters waiting for a replay or a discard.",
                value=dead.value,
            )
