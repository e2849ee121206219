"""The `default` queue: storing accepted events, and replaying dead letters.

Full profile: requests put their events on a Redis stream
(app/services/ingestion/event_stream.py) and
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

from celery import Task, shared_task
from celery.exceptions import Reject, Retry
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app
from sqlalchemy.exc import OperationalError

from app import metrics
from app.extensions import db
from app.models.dialect import is_postgresql
from app.services.ingestion.event_stream import EventStream
from app.services.ingestion.stored_event import StoredEvent, Unstorable
from app.services.storage.dead_letters import (
    quarantine_raw,
    record_dead_letter,
)
from app.services.storage.events import store_batches, store_new

log = logging.getLogger(__name__)
# Upper bound of one retry's wait; below the broker's visibility timeout (celery_config.py).
RETRY_BACKOFF_MAX = 60
TASK_NAME = "app.tasks.events.process_events_async"
DRAIN_TASK_NAME = "app.tasks.events.drain_events"
# Bytes of events per INSERT, about: large enough that per-batch costs vanish, small enough
# that a batch stores in a few tens of milliseconds and holds little memory (RESULTS.md in
# loadtests/). Entries are read by count, so the count follows the size of the entries last
# read (a single event's entry is ~1 KB, a batch request's up to 500 KB), up to MAX_ENTRIES.
DRAIN_BYTES = 2_000_000
MAX_ENTRIES = 500
# A drain's first read cannot know the entries' size yet: this few keeps it near DRAIN_BYTES
# even when every entry is a largest request (MAX_REQUEST_BYTES, 500 KB). Reading MAX_ENTRIES
# of batch entries at once held ~50,000 events in the worker's child, whose memory then stays
# at that peak (docs/perf/memory.md); the next read already follows the size.
FIRST_READ_ENTRIES = 4
# A drain hands over to a fresh task after this long, so no task runs near the visibility
# timeout (a message unacked longer is delivered again) and the worker's slot cycles.
DRAIN_SECONDS = 20
# After a read that found fewer entries than asked for, let the next batch fill this long:
# without it a drain spins on batches of one or two entries, paying a statement and three round
# trips each.
DRAIN_LINGER_SECONDS = 0.05


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
        store_messages(messages)
    except OperationalError as exc:
        raise _retry(self, exc) from exc


@shared_task(bind=True, max_retries=None)
def drain_events(self: Task) -> None:
    """Store what waits on the event stream, batch by batch, until it is empty."""
    client = current_app.extensions.get("redis_bytes")  # entries as bytes (app/__init__.py)
    if client is None:
        return  # micro: no stream (its requests queue process_events_async)
    stream = EventStream(client, f"{socket.gethostname()}:{os.getpid()}")
    deadline = time.monotonic() + DRAIN_SECONDS
    count = FIRST_READ_ENTRIES
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
        try:
            store_entries(entries)
        except OperationalError as exc:
            # The entries stay pending for this consumer; the retry (or, should this process
            # die, another consumer after CLAIM_IDLE_MS) reads them again.
            raise _retry(self, exc) from exc
        stream.done([entry_id for entry_id, _ in entries])
        if time.monotonic() > deadline:
            drain_events.apply_async()
            return
        full = len(entries) >= count
        size = sum(len(raw) for _, raw in entries)
        count = max(1, min(MAX_ENTRIES, DRAIN_BYTES * len(entries) // max(1, size)))
        if not full:
            time.sleep(DRAIN_LINGER_SECONDS)


def store_entries(entries: list[tuple[str, bytes]]) -> None:
    """Store stream entries (each a JSON array of event messages): all in one statement when
    PostgreSQL takes them, else entry by entry, setting aside (dead-lettering) what cannot be
    stored so that it never holds back the rest. OperationalError goes up, to retry."""
    if is_postgresql():
        try:
            texts = [raw.decode() if isinstance(raw, bytes) else raw for _, raw in entries]
            received = store_batches(texts)
        except OperationalError:
            raise
        except Exception:
            db.session.rollback()  # some entry's data: sort them out one by one below
        else:
            _observe(received)
            return
    for entry_id, raw in entries:
        _store_entry(entry_id, raw)


def _store_entry(entry_id: str, raw: bytes | str) -> None:
    try:
        messages = json.loads(raw)  # the standard library: it reads lone surrogates too
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, absurdly deep
        _quarantine_entry(entry_id, raw, f"not JSON: {exc!r}")
        return
    if not isinstance(messages, list):
        _quarantine_entry(entry_id, raw, "not a JSON array of event messages")
        return
    try:
        store_messages(messages)
    except OperationalError:
        raise
    except Exception as exc:  # whatever else this entry does, it must not stop the others
        db.session.rollback()
        _quarantine_entry(entry_id, raw, repr(exc))


def _quarantine_entry(entry_id: str, raw: bytes | str, error: str) -> None:
    log.error("stream entry %s quarantined as a dead letter: %s", entry_id, error)
    quarantine_raw(entry_id, raw, DRAIN_TASK_NAME, error)
    metrics.count_quarantined()


def store_messages(messages: list[Any]) -> None:
    """Store queued messages (dicts): each checked by StoredEvent.from_dict, those that fail it
    dead-lettered at once, the rest stored by store_or_dead_letter."""
    events: list[StoredEvent] = []
    for message in messages:
        try:
            events.append(StoredEvent.from_dict(message))
        except Unstorable as exc:
            _quarantine(message, f"Unstorable({exc})")
    store_or_dead_letter(events)


def _quarantine(message: Any, error: str) -> None:
    task_id = message.get("task_id") if isinstance(message, dict) else None
    log.error("event %r cannot be stored; quarantined as a dead letter: %s", task_id, error)
    # The message as it came; record_dead_letter keeps an escaped copy if the database refuses it.
    record_dead_letter(task_id, TASK_NAME, message, error)
    metrics.count_quarantined()


def store_or_dead_letter(messages: list[StoredEvent]) -> None:
    """Store events in one statement; if the data itself fails, store what can be stored one
    by one and dead-letter the rest. OperationalError (database unavailable) goes up."""
    if not messages:
        return
    try:
        received = store_new(messages)
    except OperationalError:
        raise
    except Exception as exc:
        db.session.rollback()
        if len(messages) > 1:
            for message in messages:
                store_or_dead_letter([message])
            return
        _quarantine(messages[0].to_dict(), repr(exc))
        return
    _observe(received)


def _observe(received: list[tuple[Any, int]]) -> None:
    """Accept-to-store latency of the events just stored (none after a redelivery)."""
    try:
        metrics.observe_stored(received)
    except Exception:  # a metric never fails storing
        log.exception("accept-to-store latency not observed")


def queue_events(messages: list[dict[str, Any]]) -> None:
    """Queue one message of events for storage (micro's requests, dead-letter replays)."""
    process_events_async.apply_async((messages,))
