"""Waiting on the service's long-polls until a condition holds or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# An answer that came back sooner than this, with the condition not met, was not held by the
# service (one older than this client ignores ?wait=): the next ask waits a second instead of
# spinning against it.
NOT_HELD = 0.5


def until(
    ask: Callable[[float], Any], done: Callable[[Any], bool], deadline: float
) -> tuple[Any, bool]:
    """Call `ask(deadline)` (a long-poll bounded by the deadline, time.monotonic()) until
    `done(answer)`; the last answer and whether it is done."""
    while True:
        asked = time.monotonic()
        answer = ask(deadline)
        if done(answer):
            return answer, True
        now = time.monotonic()
        if now >= deadline:
            return answer, False
        if now - asked < NOT_HELD:
            time.sleep(min(1.0, deadline - now))
