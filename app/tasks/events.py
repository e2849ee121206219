"""The `default` queue: storing accepted events."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.services.events import record_dead_letter, store_events

log = logging.getLogger(__name__)
MAX_RETRIES = 10


def _store(task: Task, messages: list[dict[str, Any]]) -> None:
    try:
        store_events(messages)
    except OperationalError as exc:
        # The database is unreachable or busy: wait and try again (exponential, jittered).
        db.session.rollback()
        countdown = get_exponential_backoff_interval(1, task.request.retries, 300, full_jitter=True)
        raise task.retry(exc=exc, countdown=countdown, max_retries=MAX_RETRIES) from exc
    except Exception:
        # Something in the data itself: store what can be stored, dead-letter the rest.
        db.session.rollback()
        for message in messages:
            try:
                store_events([message])
            except Exception as exc:
                db.session.rollback()
                log.exception("event %s cannot be stored", message.get("task_id"))
                record_dead_letter(message["task_id"], task.name, message, repr(exc))


@shared_task(bind=True)
def process_event_async(self: Task, message: dict[str, Any]) -> None:
    """Store one accepted event (idempotent: a redelivered message adds no row)."""
    _store(self, [message])


@shared_task(bind=True)
def process_events_async(self: Task, messages: list[dict[str, Any]]) -> None:
    """Store the accepted events of one batch request in one statement."""
    _store(self, messages)
