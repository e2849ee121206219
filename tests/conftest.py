"""Fixtures: real Redis and PostgreSQL on free ports, apps of both profiles, an SMTP sink,
a real Celery worker and a real gunicorn. Every server started here is stopped here."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import flask_migrate
import pytest
import redis
from flask import Flask
from sqlalchemy import text

from app import create_app
from app.extensions import db
from stack.servers import (
    Server,
    free_port,
    start_granian,
    start_gunicorn,
    start_postgres,
    start_redis,
    start_worker,
)
from tests.support import databases, nginx, tiers
from tests.support.http_sink import HttpSink
from tests.support.mail import SmtpSink
from tests.support.profiles import SECRET, close_app, flush_redis, full_env

# The browser fixtures, for every folder that drives chromium (tests/browser, tests/sdk).
pytest_plugins = ["tests.browser_fixtures"]

# Real servers this session started, for the closing summary.
STARTED: list[str] = []


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


@pytest.fixture
def full_app(service_root, redis_server, postgres_server):
    """A full-profile app on the test Redis and PostgreSQL, starting from empty tables."""
    app = create_app(full_env(service_root, redis_server, postgres_server))
    app.config["TESTING"] = True
    with app.app_context():
        databases.empty_tables(db.session)
    flush_redis(redis_server)
    yield app
    close_app(app)
    flush_redis(redis_server)  # leave no queued message for a worker of a later test


@pytest.fixture(scope="session")
def micro_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A micro-profile database migrated once per session, copied by each micro app."""
    return databases.migrate_micro_template(tmp_path_factory.mktemp("micro-template"))


@pytest.fixture
def micro_app(tmp_path: Path, micro_template: Path):
    """A micro-profile app with its own database file (a copy of the migrated template) and
    broker folder."""
    databases.copy_micro_database(micro_template, tmp_path / "micro")
    app = create_app({"LVD_PROFILE": "micro", "LVD_DATA_DIR": str(tmp_path / "micro")})
    app.config["TESTING"] = True
    yield app
    close_app(app)


@pytest.fixture
def make_app(service_root, redis_server, postgres_server, tmp_path, micro_template):
    """Build apps with settings of the test's own: make_app("full", RATE_LIMIT_REQUESTS=3).

    A full one shares the test PostgreSQL (ask for `full_app` too, to start from empty tables).
    """
    made: list[Flask] = []

    def make(profile: str, **settings: object) -> Flask:
        if profile == "full":
            base = full_env(service_root, redis_server, postgres_server)
        else:
            data_dir = tmp_path / f"micro-{len(made)}"
            if "DATABASE_URL" not in settings:
                databases.copy_micro_database(micro_template, data_dir)
            base = {"LVD_PROFILE": "micro", "LVD_DATA_DIR": str(data_dir)}
        app = create_app({**base, **{key: str(value) for key, value in settings.items()}})
        app.config["TESTING"] = True
        if profile == "micro" and "DATABASE_URL" in settings:
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


@pytest.fixture
def smtp_sink():
    """A local SMTP sink, stopped after the test."""
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture
def http_sink():
    """A local HTTP server that records the webhooks posted to it, stopped after the test."""
    with HttpSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def celery_worker(service_root, redis_server, postgres_server, tmp_path_factory):
    """A real worker on every queue against the test servers, for the tests of one module
    (so tests elsewhere can count what sits in the queues without a worker draining them)."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    flush_redis(redis_server)  # nothing queued by earlier tests, whose rows are gone
    env = full_env(service_root, redis_server, postgres_server)
    worker = start_worker(env, log, concurrency=1)
    yield log
    worker.stop()


@pytest.fixture(scope="session")
def gunicorn_url(service_root, redis_server, postgres_server, tmp_path_factory):
    """A real gunicorn serving run:app in the full profile on a free port."""
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = full_env(service_root, redis_server, postgres_server)
    server = start_gunicorn(env, log, free_port(), workers=2)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def granian_url(service_root, redis_server, postgres_server, tmp_path_factory):
    """A real granian (`API_SERVER=granian`) serving run:app in the full profile on a free
    port, with make up's threads per worker: 2 workers, like gunicorn_url."""
    from stack.__main__ import API_THREADS

    log = tmp_path_factory.mktemp("granian") / "granian.log"
    env = full_env(service_root, redis_server, postgres_server)
    server = start_granian(env, log, free_port(), workers=2, threads=API_THREADS)
    yield server.url
    server.stop()


@pytest.fixture
def start_proxy(service_root: Path):
    """start_proxy(app_port, {text: replacement}, flower_port) → a real nginx (stack.Server) with
    the production config in front of that port; all stopped after the test."""
    started: list[Server] = []

    def start(
        app_port: int, changes: dict[str, str] | None = None, flower_port: int | None = None
    ) -> Server:
        server = nginx.start_proxy(service_root, app_port, changes, flower_port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


VIOLATIONS = pytest.StashKey[list[str]]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier (unit, integration, system: tests/support/tiers.py), before
    `-m` selects by marker."""
    for item in items:
        tier = tiers.tier_of(item)
        if not item.get_closest_marker(tier):
            item.add_marker(tier)


def _guard(item: pytest.Item):
    tier = next(name for name in tiers.TIERS if item.get_closest_marker(name))
    return tiers.guarded(tier, item.stash.setdefault(VIOLATIONS, []))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    """Set up a test's fixtures under its tier's guard."""
    with _guard(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Run a test under its tier's guard; fail it for a refusal even if the code caught it."""
    with _guard(item):
        result = yield
    if item.stash[VIOLATIONS]:
        raise tiers.TierViolation("; ".join(item.stash[VIOLATIONS]))
    return result


def pytest_terminal_summary(terminalreporter) -> None:
    """Say which real servers the tests ran against."""
    if STARTED:
        terminalreporter.write_sep("-", "real servers started and stopped by the fixtures")
        for line in STARTED:
            terminalreporter.write_line(line)
