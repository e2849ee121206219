"""Celery tasks: thin wrappers over services, one module per queue."""

from app.tasks import batch, emails, events  # noqa: F401  (registers the tasks)
