"""Counting attempts per key in a time window (login and code tries): Redis in the full
profile, so every gunicorn worker counts together; a dictionary in micro (one process)."""

from __future__ import annotations

import threading
import time

import redis


class Throttle:
    """At most `limit` hits per key per `window` seconds."""

    def __init__(self, limit: int, window: int, client: redis.Redis | None = None) -> None:
        self.limit, self.window = limit, window
        self._client = client
        self._local: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Count one attempt; False when the key is over its limit for this window."""
        if self._client is not None:
            name = f"lvd:throttle:{key}"
            with self._client.pipeline() as pipe:
                count, _ = pipe.incr(name).expire(name, self.window, nx=True).execute()
            return count <= self.limit
        now = time.monotonic()
        with self._lock:
            start, count = self._local.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            self._local[key] = (start, count + 1)
        return count + 1 <= self.limit
