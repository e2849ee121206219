"""Beat and Flower run on a light Celery app (celery_light.py): its broker, routes and beat
schedule must be the service's own, for the defaults and for the settings tests change, and it
must not import the service (that is its point: ~50 MB less per process, docs/perf/memory.md)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from tests.support.profiles import close_app

ROOT = Path(__file__).resolve().parent.parent
# What beat and Flower use of the app: where the broker is, how to reach it, what to send when,
# and where each task goes.
KEYS = (
    "broker_url",
    "broker_transport",
    "broker_transport_options",
    "beat_schedule",
    "beat_schedule_filename",
    "task_routes",
    "task_queues",
    "task_default_queue",
    "task_serializer",
    "timezone",
    "enable_utc",
)
LIGHT = f"""
import pickle, sys
from celery_light import celery_app
heavy = sorted(m for m in ("app", "flask", "sqlalchemy", "run") if m in sys.modules)
conf = {{k: celery_app.conf[k] for k in {KEYS!r}}}
conf["task_queues"] = [queue.name for queue in conf["task_queues"]]
sys.stdout.buffer.write(pickle.dumps((conf, heavy)))
"""


def light_settings(env: dict[str, str]) -> tuple[dict, list[str]]:
    """The light app's settings as `celery -A celery_light` builds them from `env`, and which
    of the service's heavy modules it imported."""
    out = subprocess.run(
        [sys.executable, "-c", LIGHT],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return pickle.loads(out)


@pytest.mark.system  # runs the light app in a process of its own, as beat and Flower do
@pytest.mark.parametrize(
    "settings",
    [{}, {"STATS_INTERVAL_SECONDS": "1", "BROKER_TIMEOUT_SECONDS": "2.5"}],
    ids=["defaults", "tests-intervals"],
)
def test_beat_and_flower_see_the_services_celery_settings(tmp_path, settings):
    env = {
        "LVD_PROFILE": "full",
        "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing connects: settings only
        "DATABASE_URL": "postgresql://lvd@127.0.0.1:1/lvd",
        "LVD_DATA_DIR": str(tmp_path / "full"),
        "SECRET_KEY": "x",
        **settings,
    }
    flask_app = create_app(env)
    try:
        service = {key: flask_app.extensions["celery"].conf[key] for key in KEYS}
        # kombu binds the (shared) Queue objects to an exchange once a worker used them.
        service["task_queues"] = [queue.name for queue in service["task_queues"]]
    finally:
        close_app(flask_app)
    light, heavy = light_settings(env)
    assert heavy == []
    assert light == service
    schedule = light["beat_schedule"]
    interval = float(settings.get("STATS_INTERVAL_SECONDS", 60))
    assert schedule["count-new-events"]["schedule"] == schedule["check-alerts"]["schedule"]
    assert schedule["check-alerts"]["schedule"] == interval


@pytest.mark.system
def test_the_light_app_refuses_to_start_without_the_broker(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as failed:
        light_settings({"LVD_DATA_DIR": str(tmp_path)})
    assert b"celery_light needs REDIS_URL" in failed.value.stderr
