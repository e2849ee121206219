"""Fixtures: real Redis and PostgreSQL on free ports, apps of both profiles, an SMTP sink,
a real Celery worker and a real gunicorn. Every server started here is stopped here."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import urllib.request
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import flask_migrate
import pytest
import redis
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import text

from app import create_app
from app.extensions import db
from app.services.apps import NewApp, create_app_record
from stack.servers import (
    Server,
    _spawn,
    free_port,
    start_postgres,
    start_redis,
    stop_process_group,
    wait_until,
)

# The browser fixtures, for every folder that drives chromium (tests/browser, tests/sdk).
pytest_plugins = ["tests.browser_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "test-secret-key"
# Real servers this session started, for the closing summary.
STARTED: list[str] = []
TABLES = (
    "events",
    "dead_letters",
    "dedup_claims",
    "event_stats",
    "event_version_stats",
    "event_minute_stats",
    "stat_watermarks",
    "job_files",
    "jobs",
    "violation_stats",
    "tracking_plans",
    "apps",
    "email_codes",
    "users",
)


@pytest.fixture(scope="session")
def service_root():
    """A folder for the servers' data. PostgreSQL runs as the `postgres` user when the tests
    run as root, so the folder must be reachable by it (pytest's own tmp folders are not)."""
    root = Path(tempfile.mkdtemp(prefix="lvd-tests-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(service_root: Path):
    """A real redis-server for the whole session."""
    server = start_redis(service_root / "redis", free_port(), appendonly=False)
    client = redis.Redis.from_url(server.url)
    STARTED.append(f"redis-server {client.info()['redis_version']} at {server.url}")
    client.close()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(service_root: Path):
    """A real PostgreSQL server for the whole session, migrated to the newest schema."""
    server = start_postgres(service_root / "postgres", free_port(), durable=False)
    app = create_app(
        {
            "LVD_PROFILE": "full",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "DATABASE_URL": server.url,
            "LVD_DATA_DIR": str(service_root / "migrate"),
            "SECRET_KEY": SECRET,
        }
    )
    with app.app_context():
        flask_migrate.upgrade()
        version = db.session.scalar(text("SHOW server_version"))
        db.session.remove()
        db.engine.dispose()
    STARTED.append(f"PostgreSQL {version} at {server.url.split('@')[1]}")
    yield server
    server.stop()


def full_env(service_root: Path, redis_server: Server, postgres_server: Server) -> dict[str, str]:
    """Environment-style settings of the full profile against the test servers."""
    return {
        "LVD_PROFILE": "full",
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": postgres_server.url,
        "LVD_DATA_DIR": str(service_root / "full"),
        "SECRET_KEY": SECRET,
    }


def close_app(app: Flask) -> None:
    """Release what an app holds (connections, pools), so no socket outlives its test."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["celery"].close()
    app.extensions["app_directory"].close()
    for name in ("redis", "redis_bytes"):
        client = app.extensions.get(name)
        if client is not None:
            client.close()


@pytest.fixture
def full_app(service_root, redis_server, postgres_server):
    """A full-profile app on the test Redis and PostgreSQL, starting from empty tables."""
    app = create_app(full_env(service_root, redis_server, postgres_server))
    app.config["TESTING"] = True
    with app.app_context():
        db.session.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        db.session.commit()
    flush_redis(redis_server)
    yield app
    close_app(app)
    flush_redis(redis_server)  # leave no queued message for a worker of a later test


def flush_redis(redis_server: Server) -> None:
    """Empty the test Redis (queues, dedup claims)."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()


@pytest.fixture
def micro_app(tmp_path: Path):
    """A micro-profile app with its own database file and broker folder."""
    app = create_app({"LVD_PROFILE": "micro", "LVD_DATA_DIR": str(tmp_path / "micro")})
    app.config["TESTING"] = True
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    close_app(app)


@pytest.fixture
def make_app(service_root, redis_server, postgres_server, tmp_path):
    """Build apps with settings of the test's own: make_app("full", RATE_LIMIT_REQUESTS=3).

    A full one shares the test PostgreSQL (ask for `full_app` too, to start from empty tables).
    """
    made: list[Flask] = []

    def make(profile: str, **settings: object) -> Flask:
        if profile == "full":
            base = full_env(service_root, redis_server, postgres_server)
        else:
            base = {"LVD_PROFILE": "micro", "LVD_DATA_DIR": str(tmp_path / f"micro-{len(made)}")}
        app = create_app({**base, **{key: str(value) for key, value in settings.items()}})
        app.config["TESTING"] = True
        if profile == "micro":
            with app.app_context():
                flask_migrate.upgrade()
        made.append(app)
        return app

    yield make
    for app in made:
        close_app(app)


@pytest.fixture(params=["micro", "full"])
def any_app(request):
    """The same test in both profiles."""
    return request.getfixturevalue(f"{request.param}_app")


def add_app(flask_app: Flask, name: str = "shop", plan: dict | None = None) -> NewApp:
    """Create an app record (with a published plan when given)."""
    with flask_app.app_context():
        new = create_app_record(name, plan)
        new.app.id  # load before the session closes  # noqa: B018
        return new


class SmtpSink:
    """A real SMTP server on a free port that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.received = threading.Condition()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.url = f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        with self.received:
            self.messages.append(message_from_bytes(envelope.content))
            self.received.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10) -> list[Message]:
        """Block until `count` messages arrived (or fail)."""
        with self.received:
            if not self.received.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"{len(self.messages)} of {count} mails arrived")
        return self.messages


@pytest.fixture
def smtp_sink():
    """A local SMTP sink, stopped after the test."""
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


def start_worker(env: dict[str, str], log: Path, queue: str = "all") -> int:
    """A real Celery worker process (through start_celery_worker.sh); returns its PID."""
    proc = _spawn(
        ["./start_celery_worker.sh", queue, "--concurrency", "1", "--pool", "prefork"],
        log,
        cwd=ROOT,
        env={**os.environ, **env, "CELERY": str(BIN / "celery"), "LOGLEVEL": "INFO"},
    )
    wait_until(lambda: " ready." in log.read_text(), 60, "the celery worker", interval=0.1)
    return proc.pid


def start_beat(env: dict[str, str], log: Path) -> int:
    """A real Celery beat process with a schedule file beside its log; returns its PID."""
    proc = _spawn(
        [
            str(BIN / "celery"),
            "-A",
            "run:celery_app",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(log.with_suffix(".schedule")),
        ],
        log,
        cwd=ROOT,
        env={**os.environ, **env},
    )
    wait_until(lambda: "beat: Starting" in log.read_text(), 60, "celery beat", interval=0.1)
    return proc.pid


@pytest.fixture(scope="module")
def celery_worker(service_root, redis_server, postgres_server, tmp_path_factory):
    """A real worker on every queue against the test servers, for the tests of one module
    (so tests elsewhere can count what sits in the queues without a worker draining them)."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    flush_redis(redis_server)  # nothing queued by earlier tests, whose rows are gone
    pid = start_worker(full_env(service_root, redis_server, postgres_server), log)
    yield log
    stop_process_group(pid, timeout=30)


@pytest.fixture(scope="session")
def gunicorn_url(service_root, redis_server, postgres_server, tmp_path_factory):
    """A real gunicorn serving run:app in the full profile on a free port."""
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    proc = _spawn(
        [
            str(BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "run:app",
        ],
        log,
        cwd=ROOT,
        env={**os.environ, **full_env(service_root, redis_server, postgres_server)},
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return response.status == 200

    wait_until(healthy, 60, "gunicorn", interval=0.1)
    yield url
    stop_process_group(proc.pid, timeout=30)


def pytest_terminal_summary(terminalreporter) -> None:
    """Say which real servers the tests ran against."""
    if STARTED:
        terminalreporter.write_sep("-", "real servers started and stopped by the fixtures")
        for line in STARTED:
            terminalreporter.write_line(line)
