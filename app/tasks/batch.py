"""The `batch_processing` queue: statistics and retention (alerts and jobs have their own
modules, on the same queue)."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from app.models.types import utcnow
from app.services.statistics import aggregates
from app.services.storage import partitions, retention

RETENTION_BATCHES = 40  # per run: at most 200,000 rows, then the task queues itself again


@shared_task
def count_new_events() -> int:
    """Count the events stored since the last run into the statistics (beat, every minute)."""
    return aggregates.count_new_events()


@shared_task
def batch_process_events(app_id: int, hours: int = 1) -> int:
    """Bring an app's statistics up to date and recount its last `hours` from its events."""
    aggregates.count_new_events()
    return aggregates.recount(app_id, hours)


@shared_task
def delete_old_events() -> int:
    """Delete events past their retention in bounded batches (beat, hourly)."""
    days = current_app.config["EVENT_RETENTION_DAYS"]
    deleted, remaining = retention.delete_old_events(days, RETENTION_BATCHES)
    if remaining:
        delete_old_events.delay()
    return deleted


@shared_task
def make_event_partitions() -> int:
    """PostgreSQL: make the day partitions of `events` a week ahead, and move rows waiting in
    the default partition into their day's (beat, hourly); returns how many were made."""
    return len(partitions.ensure_partitions(utcnow()))
