"""Locust load test of native ingestion (HTTP only; never imports the app).

    LVD_WRITE_KEY=<key> .venv/bin/locust -f loadtests/locustfile.py --host http://127.0.0.1:8080

Deepened by the performance issue (thresholds, batch posts, the bench command).
"""

import os
import uuid

from locust import FastHttpUser, constant, task

WRITE_KEY = os.environ.get("LVD_WRITE_KEY", "")


class SdkUser(FastHttpUser):
    """An app sending single events as an SDK does."""

    wait_time = constant(0)

    @task
    def log_event(self) -> None:
        event = {"eventName": "user_login", "userId": 123, "messageId": str(uuid.uuid4())}
        with self.client.post(f"/api/logs/{WRITE_KEY}", json=event, catch_response=True) as r:
            if r.status_code != 202:
                r.failure(f"{r.status_code}: {r.text[:200]}")
