"""Operations endpoints: `GET /healthz` (process up), `/readyz` (dependencies), `/metrics`."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST

from app.extensions import db
from app.metrics import render
from app.services.probes import ping_database, ping_redis, prober

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    """Answers as long as the process serves requests (no I/O).
    ---
    get:
      tags: [operations]
      responses:
        200: Health
    """
    return {"status": "ok"}


@health.get("/readyz")
def readyz():
    """200 when the database and Redis answer, with each round trip's time; else 503 naming
    what failed. Answers within about two seconds whatever the servers do.
    ---
    get:
      tags: [operations]
      responses:
        200: Ready
        503: Ready
    """
    looks = {"database": partial(ping_database, db.engine)}
    client = current_app.extensions.get("redis")
    if client is not None:
        looks["redis"] = partial(ping_redis, client)
    checks = {}
    for name, outcome in prober(current_app).run(looks).items():
        checks[name] = {"ok": outcome.ok, "ms": outcome.ms}
        if not outcome.ok:
            checks[name]["error"] = outcome.error
    if client is None:
        checks["redis"] = {"ok": True, "skipped": "the micro profile queues without Redis"}
    failing = [name for name, check in checks.items() if not check["ok"]]
    if failing:
        body = {"status": "unavailable", "failing": failing, "checks": checks}
        return body, 503, {"Retry-After": "1"}
    return {"status": "ready", "checks": checks}


@health.get("/metrics")
def metrics():
    """Prometheus text format: this host's processes added up, and state read at scrape.
    ---
    get:
      tags: [operations]
      responses:
        200:
          description: Prometheus text exposition format.
          content:
            text/plain: {schema: {type: string}}
    """
    return Response(render(current_app), headers={"Content-Type": CONTENT_TYPE_LATEST})
