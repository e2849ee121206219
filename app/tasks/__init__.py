"""Celery tasks: thin wrappers over services, one module per concern (queues: celery_config)."""

from app.tasks import alerts, batch, emails, events, jobs, webhooks  # noqa: F401  (registers the tasks)
