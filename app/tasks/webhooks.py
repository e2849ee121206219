"""The `emails` queue's webhook deliveries (notifications, like mail), and beat's sweep that
queues again every pending delivery whose next attempt is overdue (its task was lost, or its
worker died mid-attempt): the delivery's row is the truth, the task only a nudge."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import redis
from celery import shared_task
from flask import Flask, current_app
from kombu.exceptions import KombuError

from app.services.webhooks import deliveries
from celery_config import ALERT_PRIORITY

log = logging.getLogger(__name__)
# A retry due sooner than this waits as a countdown of its task; a later one is left to the
# sweep (every 30 s), so no message waits in a worker near the broker's visibility timeout.
COUNTDOWN_MAX_SECONDS = 60.0


def settings() -> deliveries.Settings:
    """The WEBHOOK_* settings of this process."""
    config = current_app.config
    return deliveries.Settings(
        timeout=config["WEBHOOK_TIMEOUT_SECONDS"],
        retry_base=config["WEBHOOK_RETRY_BASE_SECONDS"],
        max_attempts=config["WEBHOOK_MAX_ATTEMPTS"],
        private_addresses=config["WEBHOOK_PRIVATE_ADDRESSES"],
    )


class WebhookSenders:
    """Micro's webhook posts, on threads of their own: micro has one worker for every queue, and
    a slow receiver there would hold back the storing of every app's events (up to two timeouts
    per attempt, one attempt after another). A retry is left to the sweep, which sends what is
    due every 30 s."""

    def __init__(self, flask_app: Flask, threads: int = 2) -> None:
        self.flask_app = flask_app
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="webhooks")

    def submit(self, delivery_id: int) -> None:
        self.pool.submit(self._send, delivery_id)

    def _send(self, delivery_id: int) -> None:
        with self.flask_app.app_context():
            try:
                deliveries.attempt(delivery_id, settings())
            except Exception:  # the row stays pending: the sweep tries again
                log.exception("webhook delivery %s failed on its thread", delivery_id)

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def start_senders(flask_app: Flask) -> WebhookSenders:
    """Micro: post webhooks on WebhookSenders' threads instead of the worker's."""
    senders = flask_app.extensions["webhook_senders"] = WebhookSenders(flask_app)
    return senders


def queue_deliveries(ids: list[int], countdown: float | None = None) -> None:
    """Queue one delivery task per id; a broker that refuses leaves them to the sweep. In micro
    (WebhookSenders started) hand them to its threads instead; a retry waits for the sweep."""
    senders = current_app.extensions.get("webhook_senders")
    if senders is not None:
        for delivery_id in ids if countdown is None else ():
            senders.submit(delivery_id)
        return
    for delivery_id in ids:
        try:
            deliver_webhook.apply_async(
                (delivery_id,), countdown=countdown, priority=ALERT_PRIORITY
            )
        except (KombuError, redis.RedisError, OSError):
            log.warning("webhook delivery %s not queued; the sweep will send it", delivery_id)


@shared_task
def deliver_webhook(delivery_id: int) -> str | None:
    """Attempt one delivery; a retryable failure comes back after its backoff."""
    outcome = deliveries.attempt(delivery_id, settings())
    if outcome is None:
        return None  # not due, or settled: another copy had it
    if outcome.retry_in is not None and outcome.retry_in <= COUNTDOWN_MAX_SECONDS:
        queue_deliveries([delivery_id], countdown=outcome.retry_in)
    return outcome.state


@shared_task
def sweep_webhook_deliveries() -> list[int]:
    """Queue every pending delivery whose next attempt is overdue (after failing those with
    no attempt left); returns their ids."""
    deliveries.give_up_unfinished(settings())
    ids = deliveries.overdue()
    queue_deliveries(ids)
    return ids
