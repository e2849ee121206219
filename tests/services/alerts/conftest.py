"""Fixtures of the alert tests: one SMTP sink per module and a real worker that sends the
queued mail to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.servers import start_worker, stop_process_group
from tests.services.alerts.helpers import (
    PUBLIC_URL,
)
from tests.support.mail import SmtpSink
from tests.support.profiles import flush_redis, full_env


@pytest.fixture(scope="module")
def worker_settings() -> dict[str, str]:
    """Settings the module's worker (and beat) run with, beyond the test servers' (override)."""
    return {}


@pytest.fixture(scope="module")
def mail_sink():
    """One SMTP sink for the module's worker (`sink` empties it for each test)."""
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture(scope="module")
def worker_env(service_root, redis_server, postgres_server, mail_sink, worker_settings):
    """The environment of the module's worker and beat: the test servers, the sink."""
    return {
        **full_env(service_root, redis_server, postgres_server),
        "SMTP_URL": mail_sink.url,
        "PUBLIC_URL": PUBLIC_URL,
        **worker_settings,
    }


@pytest.fixture(scope="module")
def mail_worker(redis_server, worker_env, tmp_path_factory) -> Path:
    """A real Celery worker on every queue that mails to the sink; yields its log."""
    log = tmp_path_factory.mktemp("alerts-worker") / "worker.log"
    flush_redis(redis_server)
    pid = start_worker(worker_env, log, concurrency=1).pid
    yield log
    stop_process_group(pid, timeout=30)


@pytest.fixture
def sink(full_app, mail_sink, mail_worker) -> SmtpSink:
    """The module's sink, emptied; the test's app builds links to PUBLIC_URL like the worker."""
    full_app.config["PUBLIC_URL"] = PUBLIC_URL
    with mail_sink.received:
        mail_sink.messages.clear()
    return mail_sink
