"""Slots for long-polls (`GET /api/tasks/<id>?wait=`): a waiting request holds a server thread,
so at most `total` wait at once in this process, and at most `per_app` of them for one app.

The count is per process on purpose: what a wait takes is a thread of its own process (a
gunicorn worker's, or micro's one server), so a per-process cap is exactly what keeps threads
free for ingestion. A count shared over Redis would protect no thread better and could leak
slots when a process dies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class NoWaitSlot(Exception):
    """Every slot this request could take is in use."""

    def __init__(self, scope: str, limit: int) -> None:
        super().__init__(f"{limit} long-polls are already waiting ({scope})")
        self.scope, self.limit = scope, limit


class WaitSlots:
    """At most `total` concurrent waits in this process, and `per_app` for any one app."""

    def __init__(self, total: int, per_app: int) -> None:
        self.total, self.per_app = total, per_app
        self._lock = threading.Lock()
        self._by_app: dict[int, int] = {}

    def in_use(self, app_id: int | None = None) -> int:
        """Slots taken now: all of them, or one app's."""
        with self._lock:
            if app_id is None:
                return sum(self._by_app.values())
            return self._by_app.get(app_id, 0)

    @contextmanager
    def slot(self, app_id: int) -> Iterator[None]:
        """Hold one of `app_id`'s slots for the block; NoWaitSlot when none is free."""
        with self._lock:
            held = self._by_app.get(app_id, 0)
            if sum(self._by_app.values()) >= self.total:
                raise NoWaitSlot("in this server process", self.total)
            if held >= self.per_app:
                raise NoWaitSlot("for this app in this server process", self.per_app)
            self._by_app[app_id] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._by_app[app_id] - 1
                if left:
                    self._by_app[app_id] = left
                else:
                    del self._by_app[app_id]  # no entry per app ever seen: the dict stays small
