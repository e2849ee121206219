"""Celery settings: queues, routes, delivery, beat (the broker URL comes from app config).

The queue names and priorities are defined here once; app/, stack/ and the tests import them.
"""

from celery.schedules import crontab
from kombu import Queue

# One queue per concern, so a flood of one kind of work never starves another.
STORAGE_QUEUE = "default"  # storing events, and the drains of the event stream
EMAIL_QUEUE = "emails"
BATCH_QUEUE = "batch_processing"
QUEUES = (STORAGE_QUEUE, EMAIL_QUEUE, BATCH_QUEUE)

# Priorities within a queue: Redis keeps one list per step and a worker empties the lower
# numbers first. Account mail is sent at 0 (someone waits for the code), alerts at 3, digests
# at 9 (app/services/alerts.py). Events need none: they have the `default` queue to themselves.
PRIORITY_STEPS = [0, 3, 6, 9]
ALERT_PRIORITY, DIGEST_PRIORITY = 3, 9

task_queues = tuple(Queue(name) for name in QUEUES)
task_default_queue = STORAGE_QUEUE
task_routes = {
    "app.tasks.events.*": {"queue": STORAGE_QUEUE},
    "app.tasks.emails.*": {"queue": EMAIL_QUEUE},
    # Webhooks are notifications too: they share the mail's queue, behind account mail.
    "app.tasks.webhooks.*": {"queue": EMAIL_QUEUE},
    "app.tasks.batch.*": {"queue": BATCH_QUEUE},
    "app.tasks.alerts.*": {"queue": BATCH_QUEUE},
    "app.tasks.jobs.*": {"queue": BATCH_QUEUE},
}

task_serializer = "json"
accept_content = ["json"]
# Task state is derived from stored rows; no result backend writes on any path.
task_ignore_result = True
# A message leaves the queue only after its task finished, so a crashed worker's work is redone.
task_acks_late = True
# ... and a worker process killed mid-task hands its message back instead of acking it.
task_reject_on_worker_lost = True
# Not `worker_cancel_long_running_tasks_on_connection_loss`: with it, a Redis restart crashed
# the worker while it restored unacked messages (celery#9250-like; seen in `make faults`).
# Running copies finish instead; storage is idempotent, so a redelivered copy adds no row.
# Few messages held unacked per process: fast tasks stay fed, a crash has little to redeliver.
worker_prefetch_multiplier = 4
# Redis hands an unacked message to another worker after this long: it bounds how late work of
# a worker that died, or whose prefetched messages were stranded by a Redis restart, is redone
# (`make faults`). Retry countdowns (app/tasks/events.py, at most RETRY_BACKOFF_MAX = 60 s) stay
# well under it, or a waiting retry would run twice; every task here takes seconds, not minutes.
broker_transport_options = {"visibility_timeout": 180, "priority_steps": PRIORITY_STEPS}
# Fail a publish fast (the API then answers 503) rather than hang a request on a dead broker.
task_publish_retry_policy = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}
broker_connection_retry_on_startup = True
timezone = "UTC"
enable_utc = True
worker_hijack_root_logger = False

beat_schedule = {
    # Requests queue a drain of the event stream themselves; this one is the safety net for
    # entries of a worker that died mid-batch (claimed once idle,
    # app/services/ingestion/event_stream.py).
    "drain-events": {"task": "app.tasks.events.drain_events", "schedule": 30.0},
    # Count the events stored since the last run into the per-minute and per-hour statistics
    # (STATS_INTERVAL_SECONDS sets the interval of this one and the next; app/__init__.py).
    "count-new-events": {"task": "app.tasks.batch.count_new_events", "schedule": 60.0},
    # Mail an app's owner when its share of invalid events passes the app's threshold.
    "check-alerts": {"task": "app.tasks.alerts.check_alerts", "schedule": 60.0},
    # Queue again webhook deliveries whose next attempt is overdue (a lost task, a worker that
    # died mid-attempt, or a retry too far off for a countdown; app/tasks/webhooks.py).
    "sweep-webhook-deliveries": {
        "task": "app.tasks.webhooks.sweep_webhook_deliveries",
        "schedule": 30.0,
    },
    # The daily digest of each app's yesterday, to its owner.
    "send-digests": {
        "task": "app.tasks.alerts.send_daily_digests",
        "schedule": crontab(hour=7, minute=0),
    },
    # Take over jobs whose worker stopped sending heartbeats (it died or was restarted).
    "resume-stalled-jobs": {"task": "app.tasks.jobs.resume_stalled_jobs", "schedule": 60.0},
    # PostgreSQL: make the day partitions of `events` a week ahead (an event whose day has none
    # is kept in the default partition and moved by the next run; docs/partitions.md).
    "make-event-partitions": {
        "task": "app.tasks.batch.make_event_partitions",
        "schedule": 3600.0,
    },
    # Delete events older than their app's retention: whole day partitions, then the rows of
    # apps with a shorter retention, a bounded batch at a time.
    "delete-old-events": {"task": "app.tasks.batch.delete_old_events", "schedule": 3600.0},
}
