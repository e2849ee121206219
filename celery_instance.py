"""The Celery settings that depend on the instance: the broker, its options, beat's schedule.

One function applies them on top of celery_config.py, to the service's Celery app
(app/__init__.py register_celery) and to the light one that beat and Flower run
(celery_light.py), so the two cannot disagree. Nothing of the service is imported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery

import celery_config

# Beat entries whose interval is the STATS_INTERVAL_SECONDS setting (tests make it short).
STATS_BEAT_ENTRIES = ("count-new-events", "check-alerts")


def redis_transport_options(timeout: float) -> dict[str, Any]:
    """The Redis broker's options: celery_config.py's, and how long to wait on a dead broker."""
    return {
        **celery_config.broker_transport_options,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }


def beat_schedule(stats_interval: float) -> dict[str, dict[str, Any]]:
    """celery_config.py's schedule, the statistics' entries every `stats_interval` seconds."""
    return {
        name: {**entry, "schedule": stats_interval} if name in STATS_BEAT_ENTRIES else entry
        for name, entry in celery_config.beat_schedule.items()
    }


def configure(
    celery_app: Celery,
    *,
    broker_url: str,
    transport_options: dict[str, Any],
    stats_interval: float,
    data_dir: str,
    transport: str | None = None,
) -> None:
    """celery_config.py's settings, then this instance's broker and beat schedule."""
    celery_app.config_from_object("celery_config")
    celery_app.conf.update(
        broker_url=broker_url,
        broker_transport=transport,
        broker_transport_options=transport_options,
        beat_schedule=beat_schedule(stats_interval),
        beat_schedule_filename=str(Path(data_dir) / "celerybeat-schedule"),
    )
