"""Values a page shows one person once (a new read key): kept server-side for a few minutes
and handed out a single time, so they never travel in a cookie. Redis in the full profile
(any gunicorn worker may serve the next page); a dictionary in micro (one process)."""

from __future__ import annotations

import threading
import time

import redis


class ShownOnce:
    """put(name, value), then take(name) returns it once within `ttl` seconds."""

    def __init__(self, ttl: int, client: redis.Redis | None = None) -> None:
        self.ttl = ttl
        self._client = client
        self._local: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def put(self, name: str, value: str) -> bool:
        """Keep `value` under `name` (replacing an earlier one) until taken or expired; False
        when Redis is unreachable (nothing kept)."""
        if self._client is not None:
            try:
                self._client.set(f"lvd:shown-once:{name}", value, ex=self.ttl)
            except redis.RedisError:
                return False
            return True
        now = time.monotonic()
        with self._lock:
            self._local = {k: v for k, v in self._local.items() if v[0] > now}
            self._local[name] = (now + self.ttl, value)
        return True

    def take(self, name: str) -> str | None:
        """The value under `name`, removed as it is read; None when absent or expired."""
        if self._client is not None:
            key = f"lvd:shown-once:{name}"
            try:
                with self._client.pipeline() as pipe:  # MULTI: two pages cannot both get it
                    value, _ = pipe.get(key).delete(key).execute()
            except redis.RedisError:
                return None  # the page shows without it rather than fail
            return value
        with self._lock:
            expires, value = self._local.pop(name, (0.0, None))
        return value if expires > time.monotonic() else None
