"""The Live Validation Dashboard: create_app() builds one configured instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
from celery import Celery, Task
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import build_config, config_from_environment
from app.extensions import csrf, db, login_manager, migrate
from app.json_provider import OrjsonProvider
from app.micro_broker import TRANSPORT, make_folders
from app.private_files import private_sqlite
from celery_config import STORAGE_QUEUE
from celery_instance import configure as configure_celery
from celery_instance import redis_transport_options

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """An app from the environment, or from `config` (environment-style strings) for tests."""
    # The dashboard's templates and static files live beside its code (app/dashboard/).
    app = Flask(__name__, template_folder="dashboard/templates", static_folder="dashboard/static")
    app.json = OrjsonProvider(app)
    app.config.update(config_from_environment() if config is None else build_config(config))
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_REQUEST_BYTES"]
    Path(app.config["DATA_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    register_fast_lane(app)
    register_metrics(app)
    register_extensions(app)
    register_services(app)
    register_celery(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    register_security_headers(app)
    register_cross_origin_errors(app)
    register_proxy(app)
    register_url_check(app)
    return app


def register_fast_lane(app: Flask) -> None:
    """The ingestion POSTs answered without Flask's request machinery (app/ingest/fast_lane.py);
    the metrics and proxy middleware, wrapped around it later, see them as any request."""
    from app.ingest.fast_lane import FastLane

    app.wsgi_app = FastLane(app, app.wsgi_app)  # type: ignore[method-assign]


def register_url_check(app: Flask) -> None:
    """A JSON 400 for a NUL in the path or the query, before any route reads it."""
    from app.url_text import check_url_text

    app.before_request(check_url_text)


def register_cross_origin_errors(app: Flask) -> None:
    """CORS headers on the errors of ingestion paths no route answered (a 405, a 404)."""
    from app.ingest.cors import add_cors_headers_to_unrouted

    app.after_request(add_cors_headers_to_unrouted)


def register_security_headers(app: Flask) -> None:
    """CSP, framing, sniffing and referrer headers on every answer (pages and API alike)."""
    from app.dashboard.security import add_security_headers

    app.after_request(add_security_headers)


def register_proxy(app: Flask) -> None:
    """Believe X-Forwarded-For/-Proto from exactly the TRUSTED_PROXIES hops in front (nginx)."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def register_metrics(app: Flask) -> None:
    """Request counts and timings by endpoint and status."""
    from app.metrics import instrument

    instrument(app)


def register_extensions(app: Flask) -> None:
    """Bind the database, migrations, CSRF protection and the login manager."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        private_sqlite(app.config["SQLALCHEMY_DATABASE_URI"])
        # Many short connections from request threads and the in-process worker.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
    else:
        # After a database restart pooled connections are dead: test each one on checkout
        # (only the database paths pay: ingestion reads the app directory's cache).
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_pre_ping": True,
            "connect_args": {"connect_timeout": 3},
        }
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    from app.services.accounts.users import user_of_session

    login_manager.user_loader(user_of_session)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    # WAL lets readers (pages, API) run while the worker writes; NORMAL is durable in WAL mode
    # against process crashes, which is what the micro profile promises.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


# The task that drains the event stream (celery_config.py routes it to STORAGE_QUEUE).
DRAIN_TASK = "app.tasks.events.drain_events"


def _announce_app_changes(session: Session) -> None:
    """After a commit: announce the write keys whose apps it changed (app_directory.py)."""
    from app.services.ingestion.app_directory import take_changes

    keys = take_changes(session)
    if keys:
        current_app.extensions["app_directory"].announce_change(keys)


def _forget_app_changes(session: Session, previous_transaction: Any) -> None:
    from app.services.ingestion.app_directory import take_changes

    take_changes(session)  # rolled back: nothing changed


def register_services(app: Flask) -> None:
    """Redis, the app directory and the admission (rate, backlog, dedup) of this profile."""
    from app.api.wait_slots import WaitSlots
    from app.dashboard.shown_once import ShownOnce
    from app.services.accounts.throttle import Throttle
    from app.services.accounts.users import MAX_CODE_ATTEMPTS
    from app.services.ingestion.admission import LocalAdmission, RedisAdmission
    from app.services.ingestion.app_directory import AppDirectory
    from app.services.ingestion.claims import RedisClaims, TableClaims
    from app.services.ingestion.run_counts import RedisRunCounts, TableRunCounts
    from app.services.ingestion.task_message import TaskMessage
    from app.tasks.events import queue_events

    config = app.config
    window, rate = config["DEDUP_WINDOW_SECONDS"], config["RATE_LIMIT_REQUESTS"]
    rate_window = config["RATE_LIMIT_WINDOW_SECONDS"]
    run_ttl = config["TEST_RUN_COUNTS_SECONDS"]
    if config["REDIS_URL"]:
        timeout = config["BROKER_TIMEOUT_SECONDS"]
        options = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            # One immediate retry (a dropped pooled connection), then fail: a dead Redis must
            # turn into a quick 503, not seconds of backoff inside a request.
            "retry": Retry(NoBackoff(), 1),
        }
        client = redis.Redis.from_url(config["REDIS_URL"], decode_responses=True, **options)
        app.extensions["redis"] = client
        # The drain reads stream entries as bytes: one that is not UTF-8 must not fail the read
        # of the others. (A pool connects only when used.)
        app.extensions["redis_bytes"] = redis.Redis.from_url(config["REDIS_URL"], **options)
        # Events go to a Redis stream; the admission script queues its drain task's messages.
        drain = TaskMessage(DRAIN_TASK, STORAGE_QUEUE)
        app.extensions["admission"] = RedisAdmission(
            client, window, rate, rate_window, config["QUEUE_BACKLOG_LIMIT"], drain, run_ttl
        )
        # The same claims for imports (jobs), outside a request's admission.
        app.extensions["claims"] = RedisClaims(client, window)
        # Test runs' admission counts, read by a run's settlement and added to by imports.
        app.extensions["run_counts"] = RedisRunCounts(client, run_ttl)
    else:
        run_counts = TableRunCounts(run_ttl)
        app.extensions["admission"] = LocalAdmission(
            window, rate, rate_window, queue_events, run_counts
        )
        app.extensions["claims"] = TableClaims(window)
        app.extensions["run_counts"] = run_counts
    # Failed logins and code tries, per address and per client IP, across all processes.
    window, client = config["LOGIN_FAILURE_WINDOW_SECONDS"], app.extensions.get("redis")
    app.extensions["account_throttle"] = Throttle(
        config["LOGIN_FAILURES_PER_ACCOUNT"], window, client
    )
    app.extensions["ip_throttle"] = Throttle(config["LOGIN_FAILURES_PER_IP"], window, client)
    # Account mails per (address, IP), per IP and per address (an hour), see app/config.py.
    app.extensions["mail_pair_throttle"] = Throttle(
        config["MAILS_PER_ADDRESS_AND_IP"], window, client
    )
    app.extensions["mail_ip_throttle"] = Throttle(config["MAILS_PER_IP"], window, client)
    app.extensions["mail_address_throttle"] = Throttle(
        config["MAILS_PER_ADDRESS_PER_HOUR"], 60 * 60, client
    )
    # Code tries per address: each mailed code allows MAX_CODE_ATTEMPTS, so this is the most a
    # guesser could get anyway; counted in Redis before judging, parallel tries cannot beat it.
    app.extensions["code_address_throttle"] = Throttle(
        config["MAILS_PER_ADDRESS_PER_HOUR"] * MAX_CODE_ATTEMPTS, 60 * 60, client
    )
    # A new read key waits here for the page that shows it (never in the session cookie).
    app.extensions["shown_once"] = ShownOnce(5 * 60, client)
    app.extensions["app_directory"] = AppDirectory(
        ttl=app.config["APP_CACHE_SECONDS"],
        redis_url=app.config["REDIS_URL"],
        app_context=app.app_context,
        client=app.extensions.get("redis"),
    )
    # Services note which apps a transaction changes; each commit's are announced here.
    if not event.contains(Session, "after_commit", _announce_app_changes):
        event.listen(Session, "after_commit", _announce_app_changes)
        event.listen(Session, "after_soft_rollback", _forget_app_changes)
    app.extensions["wait_slots"] = WaitSlots(
        config["TASK_WAITS_PER_PROCESS"], config["TASK_WAITS_PER_APP"]
    )


def register_celery(app: Flask) -> Celery:
    """A Celery app whose tasks run inside this Flask app's context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.import_name, task_cls=FlaskTask)
    transport = None
    if app.config["PROFILE"] == "micro":
        folder = Path(app.config["DATA_DIR"]) / "broker"
        make_folders(folder)
        transport = TRANSPORT  # kombu's filesystem transport, made crash-safe
        options = {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(folder),
            "polling_interval": 0.1,
        }
    else:
        options = redis_transport_options(app.config["BROKER_TIMEOUT_SECONDS"])
    # The same settings as beat's and Flower's light app (celery_light.py).
    configure_celery(
        celery_app,
        broker_url=app.config["CELERY_BROKER_URL"],
        transport=transport,
        transport_options=options,
        stats_interval=app.config["STATS_INTERVAL_SECONDS"],
        data_dir=app.config["DATA_DIR"],
    )
    celery_app.set_default()
    from app import tasks  # noqa: F401  (registers the shared tasks)

    app.extensions["celery"] = celery_app
    return celery_app


def register_blueprints(app: Flask) -> None:
    """Ingestion (native and SDK), the read API, health, the API reference, and the
    dashboard's pages."""
    from app.api.health import health
    from app.api.openapi import reference
    from app.api.routes import api
    from app.dashboard.accounts import web_accounts
    from app.dashboard.apps import web_apps
    from app.dashboard.operations import web_operations
    from app.dashboard.plan_impact import web_plan_impact
    from app.dashboard.plans import web_plans
    from app.dashboard.webhooks import web_webhooks
    from app.ingest.routes import ingest
    from app.ingest.sdk_routes import sdk
    from app.ingest.sdk_settings import sdk_settings

    for blueprint in (ingest, sdk, sdk_settings, api, health, reference):
        app.register_blueprint(blueprint)
        # Keys, not cookies, authenticate these: no CSRF token to ask SDKs for.
        csrf.exempt(blueprint)
    app.register_blueprint(web_accounts)
    app.register_blueprint(web_apps)
    app.register_blueprint(web_plans)
    app.register_blueprint(web_plan_impact)
    app.register_blueprint(web_operations)
    app.register_blueprint(web_webhooks)
    # Browsers ask for /favicon.ico whatever the page links: answer with the icon, not a 404.
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.svg"))


def register_error_handlers(app: Flask) -> None:
    """Every error as a JSON body."""
    from app.errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    """The admin command line (`flask --app run apps …`, `plan …`)."""
    from app.cli import (
        apps_cli,
        dead_letters_cli,
        events_cli,
        jobs_cli,
        plan_cli,
        stats_cli,
        users_cli,
    )

    app.cli.add_command(apps_cli)
    app.cli.add_command(plan_cli)
    app.cli.add_command(dead_letters_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(stats_cli)
    app.cli.add_command(events_cli)
