"""End to end on a schedule: a real worker and beat (every second here), events stored → counted
→ checked → one alert e-mail at the SMTP sink, however many times beat checks again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from app.models.types import utcnow
from stack.servers import start_beat, wait_until
from tests.services.alerts.helpers import STORM, VALID, all_delivered, owned_app, parts, store

CHECK_DONE = "Task app.tasks.alerts.check_alerts["


@pytest.fixture(scope="module")
def worker_settings() -> dict[str, str]:
    """Beat counts new events and checks alerts every second (STATS_INTERVAL_SECONDS)."""
    return {"STATS_INTERVAL_SECONDS": "1"}


@pytest.fixture(scope="module")
def beat(worker_env, mail_worker, tmp_path_factory) -> None:
    """A real `celery beat` process sending the schedule to the module's worker."""
    folder = tmp_path_factory.mktemp("alerts-beat")
    server = start_beat(worker_env, folder / "beat.log", folder / "schedule")
    yield
    server.stop()


def checks_done(log: Path) -> int:
    """How many check_alerts runs the worker has finished."""
    return sum(
        1 for line in log.read_text().splitlines() if CHECK_DONE in line and "succeeded" in line
    )


def test_beat_counts_a_storm_and_the_worker_mails_one_alert(full_app, sink, beat, mail_worker):
    storm_id, storm_key = owned_app(full_app, "storm@example.com", "storm")
    _, calm_key = owned_app(full_app, "calm@example.com", "calm")
    now = utcnow()
    store(full_app, storm_key, STORM, now - timedelta(seconds=1))
    store(full_app, calm_key, VALID * 30, now - timedelta(seconds=1))

    (mail,) = sink.wait_for(1, timeout=30)
    assert mail["To"] == "storm@example.com"
    assert mail["Subject"] == "[storm] 100% of events failing in the last 10 minutes"
    assert "/properties/items/*/sku" in parts(mail)["text/plain"]
    # Beat keeps checking every second; three more runs after the mail add nothing.
    after = checks_done(mail_worker)
    wait_until(lambda: checks_done(mail_worker) >= after + 3, 30, "three more alert checks")
    assert [m["To"] for m in all_delivered(full_app, sink)] == ["storm@example.com"]
