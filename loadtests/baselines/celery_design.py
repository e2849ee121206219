"""Baseline C, the literal original design: Flask + marshmallow, one `apply_async` per event,
and a Celery task doing one INSERT+COMMIT per event, with Celery's default settings."""

import os

from celery import Celery
from flask import Flask

from loadtests.baselines.common import insert_event, validated_event

celery_app = Celery("celery_design", broker=os.environ["BENCH_REDIS_URL"])
app = Flask(__name__)


@celery_app.task
def process_event_async(event: dict) -> None:
    insert_event(event)


@app.post("/api/logs/<key>")
def log_event(key: str):
    event, refusal = validated_event()
    if refusal:
        return refusal
    result = process_event_async.apply_async((event,))
    return {"status": "queued", "task_id": result.id}, 202
