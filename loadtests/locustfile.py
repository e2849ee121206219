"""Locust users that behave like mobile analytics SDKs (HTTP only; never imports the app).

Each user is one app install: it sends single events and batches, native and Segment-format,
some gzip-compressed, with a realistic share of invalid and unplanned events and of retries
that repeat a messageId (answered `duplicate`). Every task id answered for a new event is
written to LVD_ACCEPTED_FILE when the test stops, so `make loadtest` can check that each one
was stored. Write keys come from LVD_WRITE_KEYS (comma-separated; apps on the demo plan).

    LVD_WRITE_KEYS=k1,k2 .venv/bin/locust -f loadtests/locustfile.py --host http://127.0.0.1:8080
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import threading
import uuid
from datetime import UTC, datetime

from locust import FastHttpUser, between, events, task

WRITE_KEYS = [k for k in os.environ.get("LVD_WRITE_KEYS", "").split(",") if k]
ACCEPTED_FILE = os.environ.get("LVD_ACCEPTED_FILE", "")
# Seconds between one user's requests, on average; `make loadtest` sets the number of users.
PAUSE = float(os.environ.get("LVD_USER_PAUSE", "1"))
NEW = {"valid", "invalid", "unplanned"}  # answers that promise a stored row

_accepted: set[str] = set()
_lock = threading.Lock()


def _event(install: str, n: int) -> dict:
    """One event as an app emits it: mostly valid, some invalid, some unplanned."""
    roll = random.random()
    if roll < 0.70:
        event = {"eventName": "user_login", "userId": n, "method": "email"}
    elif roll < 0.85:
        event = {"eventName": "purchase", "price": "free", "currency": "EUR"}  # invalid
    else:
        event = {"eventName": f"experiment_{random.randint(1, 5)}", "variant": "b"}  # unplanned
    event["messageId"] = str(uuid.uuid4())
    event["context"] = {"app": {"version": "2.3.1"}, "device": {"id": install}}
    return event


def _segment(event: dict) -> dict:
    """The same event in the Segment format an SDK batch carries."""
    properties = {k: v for k, v in event.items() if k not in ("eventName", "messageId", "context")}
    return {
        "type": "track",
        "event": event["eventName"],
        "messageId": event["messageId"],
        "anonymousId": event["context"]["device"]["id"],
        "properties": properties,
        "context": event["context"],
        "timestamp": datetime.now(UTC).isoformat(),
    }


class MobileSdk(FastHttpUser):
    """One install of an app: a write key, a device id, and a short memory for retries."""

    # Random pauses, as real installs are not in step: a fixed rate would line every user up
    # on the same instants and measure bursts of simultaneous requests instead.
    wait_time = between(PAUSE / 2, PAUSE * 1.5)

    def on_start(self) -> None:
        self.key = random.choice(WRITE_KEYS)
        self.install = str(uuid.uuid4())
        self.sent = 0
        self.recent: list[dict] = []

    def _next(self) -> dict:
        self.sent += 1
        if self.recent and random.random() < 0.05:
            return random.choice(self.recent)  # a retry of something already sent
        event = _event(self.install, self.sent)
        self.recent = [*self.recent[-20:], event]
        return event

    def _post(self, path: str, body: object, name: str, compress: bool, auth: bool) -> None:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if compress:
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{self.key}:".encode()).decode()
        post = self.client.post
        with post(path, data=data, headers=headers, name=name, catch_response=True) as r:
            if r.status_code not in (200, 202):
                r.failure(f"{r.status_code}: {r.text[:200]}")
                return
            answer = r.json()
            results = answer.get("results", [answer])
            with _lock:
                _accepted.update(x["task_id"] for x in results if x.get("status") in NEW)
            r.success()

    @task(6)
    def single_event(self) -> None:
        self._post(f"/api/logs/{self.key}", self._next(), "/api/logs/[key]", False, False)

    @task(2)
    def native_batch(self) -> None:
        batch = {"events": [self._next() for _ in range(random.randint(5, 30))]}
        self._post(f"/api/logs/{self.key}/batch", batch, "/api/logs/[key]/batch", True, False)

    @task(2)
    def sdk_batch(self) -> None:
        batch = {"batch": [_segment(self._next()) for _ in range(random.randint(5, 30))]}
        self._post("/v1/batch", batch, "/v1/batch", random.random() < 0.5, True)


@events.test_stop.add_listener
def _write_accepted(**_kwargs: object) -> None:
    if ACCEPTED_FILE:
        with _lock, open(ACCEPTED_FILE, "w") as out:
            json.dump(sorted(_accepted), out)
