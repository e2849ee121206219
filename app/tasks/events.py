"""The `default` queue: storing accepted events, and replaying dead letters.

Full profile: requests put their events on a Redis stream (app/services/event_stream.py) and
`drain_events` stores them in batches of about DRAIN_EVENTS events, one INSERT per batch. Micro,
dead-letter replays and retries: `process_events_async` stores the events of its one message.
Either way an event is acknowledged only once stored or dead-lettered, and the INSERT skips task
ids already stored, so a second delivery adds no row.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from typing import Any

import orjson
from celery import Task, shared_task
from celery.exceptions import Reject, Retry
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app
from sqlalchemy.exc import OperationalError

from app import metrics
from app.extensions import db
from app.services.dead_letters import mark_replayed, record_dead_letter
from app.services.event_stream import EventStream
from app.services.events import store_batches, store_events

log = logging.getLogger(__name__)
# Upper bound of one retry's wait; below the broker's visibility timeout (celery_config.py).
RETRY_BACKOFF_MAX = 60
TASK_NAME = "app.tasks.events.process_events_async"
# Bytes of events per INSERT, about: large enough that per-batch costs vanish, small enough
# that a batch stores in a few tens of milliseconds and holds little memory (RESULTS.md in
# loadtests/). Entries are read by count, so the count follows the size of the entries last
# read (a single event's entry is ~1 KB, a batch request's up to 500 KB), up to MAX_ENTRIES.
DRAIN_BYTES = 2_000_000
MAX_ENTRIES = 500
# A drain hands over to a fresh task after this long, so no task runs near the visibility
# timeout (a message unacked longer is delivered again) and the worker's slot cycles.
DRAIN_SECONDS = 20
# After a read that found fewer entries than asked for, let the next batch fill this long:
# without it a drain spins on batches of one or two entries, paying a statement and three round
# trips each.
DRAIN_LINGER_SECONDS = 0.05
# The messages of one stream entry come from one request, so they share received_at, and each
# starts with its task id (app/ingest/accept.py builds them in that order; received_at comes after
# the client's payload). Finding these in an entry's text costs ~0.3 µs an event in batches and
# ~2 µs for an entry of one event; parsing entries would cost 11-20 µs an event, where the
# drain's own CPU is ~2 µs an event (loadtests/RESULTS.md).
_MESSAGE_START = '{"task_id":"'
_RECEIVED_AT = '"received_at":"'


def _retry(task: Task, exc: OperationalError) -> Retry:
    """Retry with exponential, jittered backoff and without limit (max_retries=None on the
    task): there is nowhere to keep the events meanwhile but the queue itself."""
    db.session.rollback()
    countdown = get_exponential_backoff_interval(
        2, task.request.retries, RETRY_BACKOFF_MAX, full_jitter=True
    )
    log.warning(
        "database unavailable (%s); retry %d in %ss", exc.orig, task.request.retries, countdown
    )
    try:
        return task.retry(exc=exc, countdown=countdown)
    except Retry as retry:
        return retry
    except Exception as publish_error:
        # The broker is down too, so the retry could not be queued: hand the message back
        # (requeued, or redelivered after the visibility timeout) instead of acking it.
        raise Reject(publish_error, requeue=True) from exc


@shared_task(bind=True, max_retries=None)
def process_events_async(self: Task, messages: list[dict[str, Any]]) -> None:
    """Store the events of one message (micro's requests, replays) in one statement."""
    try:
        store_or_dead_letter(messages)
    except OperationalError as exc:
        raise _retry(self, exc) from exc


@shared_task(bind=True, max_retries=None)
def drain_events(self: Task) -> None:
    """Store what waits on the event stream, batch by batch, until it is empty."""
    client = current_app.extensions.get("redis")
    if client is None:
        return  # micro: no stream (its requests queue process_events_async)
    stream = EventStream(client, f"{socket.gethostname()}:{os.getpid()}")
    deadline = time.monotonic() + DRAIN_SECONDS
    count = MAX_ENTRIES
    while True:
        stream.keep_flag()
        entries = stream.read(count)
        if not entries:
            stream.drop_flag()
            # Entries added before the flag was dropped queued no drain: look once more.
            entries = stream.read(count)
            if not entries:
                return
            stream.keep_flag()
        batches = [batch for _, batch in entries]
        try:
            _store_batches(batches)
        except OperationalError as exc:
            # The entries stay pending for this consumer; the retry (or, should this process
            # die, another consumer after CLAIM_IDLE_MS) reads them again.
            raise _retry(self, exc) from exc
        stream.done([entry_id for entry_id, _ in entries])
        if time.monotonic() > deadline:
            drain_events.apply_async()
            return
        full = len(entries) >= count
        size = sum(len(batch) for batch in batches)
        count = max(1, min(MAX_ENTRIES, DRAIN_BYTES * len(entries) // max(1, size)))
        if not full:
            time.sleep(DRAIN_LINGER_SECONDS)


def _store_batches(batches: list[str]) -> None:
    if db.engine.dialect.name == "postgresql":
        try:
            stored = store_batches(batches)
        except OperationalError:
            raise
        except Exception:
            db.session.rollback()  # some event's data: sort them out one by one below
        else:
            _observe_entries(batches, stored)
            return
    store_or_dead_letter([event for batch in batches for event in json.loads(batch)])


def store_or_dead_letter(messages: list[dict[str, Any]]) -> None:
    """Store events in one statement; if the data itself fails, store what can be stored one
    by one and dead-letter the rest. OperationalError (database unavailable) goes up."""
    try:
        stored = store_events(messages)
    except OperationalError:
        raise
    except Exception as exc:
        db.session.rollback()
        if len(messages) > 1:
            for message in messages:
                store_or_dead_letter([message])
            return
        log.exception("event %s cannot be stored; dead-lettered", messages[0].get("task_id"))
        record_dead_letter(messages[0]["task_id"], TASK_NAME, messages[0], repr(exc))
        return
    if stored:  # 0: all stored before (a redelivery)
        _observe_messages(messages)


def _observe_entries(batches: list[str], stored: int) -> None:
    """Accept-to-store latency of the events of stream entries just stored."""
    try:
        # Every entry holds at least one event: as many new rows as entries means one each
        # (single-event requests), and nothing needs counting.
        single = len(batches) == stored
        received = []
        for batch in batches:
            start = batch.rindex(_RECEIVED_AT) + len(_RECEIVED_AT)
            count = 1 if single else batch.count(_MESSAGE_START)
            received.append((batch[start : batch.index('"', start)], count))
        if not single and sum(count for _, count in received) != stored:
            # Rows stored before (a redelivery), or a payload that looks like a message: count
            # from the parsed messages instead (rare).
            received = [(m["received_at"], 1) for b in batches for m in orjson.loads(b)]
        metrics.observe_stored(received)
    except Exception:  # a metric never fails storing
        log.exception("accept-to-store latency not observed")


def _observe_messages(messages: list[dict[str, Any]]) -> None:
    try:
        metrics.observe_stored((message["received_at"], 1) for message in messages)
    except Exception:  # a metric never fails storing
        log.exception("accept-to-store latency not observed")


def replay_dead_letters(dead_letters: list[Any]) -> int:
    """Queue dead letters' messages again, under their own task ids (so stored at most once)."""
    if dead_letters:
        process_events_async.apply_async(([dead.message for dead in dead_letters],))
    mark_replayed([dead.id for dead in dead_letters])
    return len(dead_letters)
