"""`GET /healthz`: the process is up (readiness with dependencies comes with operations)."""

from flask import Blueprint

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    """Answers as long as the process serves requests."""
    return {"status": "ok"}
