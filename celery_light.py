"""A Celery app of the broker and beat's schedule only: `celery -A celery_light beat|flower`.

Beat only sends task messages by name and Flower only reads the broker and the workers' events,
so neither needs the service's code; started from run:celery_app each imported the whole Flask
app (~60 MB more per process; docs/perf/memory.md). The settings are applied by the same
function as the service's (celery_instance.configure), from the variables the full profile's
processes are started with: REDIS_URL and LVD_DATA_DIR (required), STATS_INTERVAL_SECONDS and
BROKER_TIMEOUT_SECONDS (optional, with app/config.py's defaults; a test keeps them equal).
The micro profile runs beat inside its own process (app/micro.py) and never uses this.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from celery import Celery

from celery_instance import configure, redis_transport_options


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise RuntimeError(f"celery_light needs {name} (the full profile's processes get it)")
    return value


def light_app(env: Mapping[str, str]) -> Celery:
    """The Celery app of beat and Flower for the full profile described by `env`."""
    celery_app = Celery("app")
    configure(
        celery_app,
        broker_url=_required(env, "REDIS_URL"),
        transport_options=redis_transport_options(float(env.get("BROKER_TIMEOUT_SECONDS", "0.5"))),
        stats_interval=float(env.get("STATS_INTERVAL_SECONDS", "60")),
        data_dir=_required(env, "LVD_DATA_DIR"),
    )
    return celery_app


celery_app = light_app(os.environ)
