"""The `default` queue: storing accepted events, and replaying dead letters."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.exceptions import Reject, Retry
from celery.utils.time import get_exponential_backoff_interval
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.services.dead_letters import mark_replayed, record_dead_letter
from app.services.events import store_events

log = logging.getLogger(__name__)
# Upper bound of one retry's wait; below the broker's visibility timeout (celery_config.py).
RETRY_BACKOFF_MAX = 60


def _store(task: Task, messages: list[dict[str, Any]]) -> None:
    try:
        try:
            store_events(messages)
        except OperationalError:
            raise
        except Exception:
            # Something in the data itself: store what can be stored, dead-letter the rest.
            db.session.rollback()
            for message in messages:
                _store_or_dead_letter(task, message)
    except OperationalError as exc:
        # The database is unreachable or busy. Retry with exponential, jittered backoff, and
        # without limit (max_retries=None on the task: passed to retry(), None would mean the
        # default of 3): there is nowhere to keep the event meanwhile but the queue itself.
        db.session.rollback()
        countdown = get_exponential_backoff_interval(
            2, task.request.retries, RETRY_BACKOFF_MAX, full_jitter=True
        )
        log.warning(
            "database unavailable (%s); retry %d in %ss", exc.orig, task.request.retries, countdown
        )
        try:
            raise task.retry(exc=exc, countdown=countdown) from exc
        except Retry:
            raise
        except Exception as publish_error:
            # The broker is down too, so the retry could not be queued: hand this message back
            # (requeued, or redelivered after the visibility timeout) instead of acking it.
            raise Reject(publish_error, requeue=True) from exc


def _store_or_dead_letter(task: Task, message: dict[str, Any]) -> None:
    try:
        store_events([message])
    except OperationalError:
        raise
    except Exception as exc:
        db.session.rollback()
        log.exception("event %s cannot be stored; dead-lettered", message.get("task_id"))
        record_dead_letter(message["task_id"], task.name, message, repr(exc))


@shared_task(bind=True, max_retries=None)
def process_event_async(self: Task, message: dict[str, Any]) -> None:
    """Store one accepted event (idempotent: a redelivered message adds no row)."""
    _store(self, [message])


@shared_task(bind=True, max_retries=None)
def process_events_async(self: Task, messages: list[dict[str, Any]]) -> None:
    """Store the accepted events of one batch request in one statement."""
    _store(self, messages)


def replay_dead_letters(dead_letters: list[Any]) -> int:
    """Queue dead letters' messages again, under their own task ids (so stored at most once)."""
    for dead in dead_letters:
        process_event_async.apply_async((dead.message,), task_id=dead.task_id)
    mark_replayed([dead.id for dead in dead_letters])
    return len(dead_letters)
