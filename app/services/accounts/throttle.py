"""Counting attempts per key in a time window (login and code tries): Redis in the full
profile, so every gunicorn worker counts together; a dictionary in micro (one process).

Callers count an attempt before they judge it (so parallel tries cannot all slip in under the
limit) and take it back when it succeeded: only failures stay counted."""

from __future__ import annotations

import threading
import time

import redis

_REFUND = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) end"


class Throttle:
    """At most `limit` hits per key per `window` seconds."""

    def __init__(self, limit: int, window: int, client: redis.Redis | None = None) -> None:
        self.limit, self.window = limit, window
        self._client = client
        self._local: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> int:
        """Count one attempt: 0 while the key is within its limit, else the seconds until its
        window ends (at least 1)."""
        if self._client is not None:
            name = f"lvd:throttle:{key}"
            with self._client.pipeline() as pipe:
                count, _, ttl = (
                    pipe.incr(name).expire(name, self.window, nx=True).ttl(name).execute()
                )
            return 0 if count <= self.limit else max(1, ttl)
        now = time.monotonic()
        with self._lock:
            start, count = self._local.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            self._local[key] = (start, count + 1)
        return 0 if count + 1 <= self.limit else max(1, round(start + self.window - now))

    def refund(self, key: str) -> None:
        """Take one counted attempt back (it succeeded)."""
        if self._client is not None:
            # Only while the window lives: a DECR of an expired key would create one with no TTL.
            self._client.eval(_REFUND, 1, f"lvd:throttle:{key}")
            return
        with self._lock:
            if key in self._local:
                start, count = self._local[key]
                self._local[key] = (start, max(0, count - 1))

    def forget(self, key: str) -> None:
        """Drop everything counted for `key`."""
        if self._client is not None:
            self._client.delete(f"lvd:throttle:{key}")
            return
        with self._lock:
            self._local.pop(key, None)
