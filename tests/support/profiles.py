"""The app's profiles as the tests build them: settings against the test servers, a clean Redis,
releasing what an app holds, and app records."""

from __future__ import annotations

from pathlib import Path

import redis
from flask import Flask

from app.extensions import db
from app.services.apps import NewApp, create_app_record
from stack.servers import Server

SECRET = "test-secret-key"


def full_env(service_root: Path, redis_server: Server, postgres_server: Server) -> dict[str, str]:
    """Environment-style settings of the full profile against the test servers."""
    return {
        "LVD_PROFILE": "full",
        "REDIS_URL": redis_server.url,
        "DATABASE_URL": postgres_server.url,
        "LVD_DATA_DIR": str(service_root / "full"),
        "SECRET_KEY": SECRET,
        # Tests post webhooks to a sink on 127.0.0.1 (the full profile denies that by default).
        "WEBHOOK_PRIVATE_ADDRESSES": "allow",
    }


def flush_redis(redis_server: Server) -> None:
    """Empty the test Redis (queues, dedup claims)."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()


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


def add_app(flask_app: Flask, name: str = "shop", plan: dict | None = None) -> NewApp:
    """Create an app record (with a published plan when given)."""
    with flask_app.app_context():
        new = create_app_record(name, plan)
        new.app.id  # load before the session closes  # noqa: B018
        return new
