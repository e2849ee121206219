"""The `batch_processing` queue: aggregation for the dashboard."""

from __future__ import annotations

from celery import shared_task
from sqlalchemy import select

from app.extensions import db
from app.models import App
from app.services.stats import aggregate


@shared_task
def batch_process_events(app_id: int, hours: int = 1) -> int:
    """Recount an app's per-hour, per-event, per-status statistics over the last `hours`."""
    return aggregate(app_id, hours)


@shared_task
def aggregate_all_apps(hours: int = 1) -> None:
    """Fan out `batch_process_events` to every app (scheduled by beat)."""
    for app_id in db.session.scalars(select(App.id)):
        batch_process_events.delay(app_id, hours)
