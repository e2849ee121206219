"""Long-polls of the API (`?wait=S` on a task, a test run, a job): hold the answer until
something is settled or S seconds passed, in one of the process's wait slots (wait_slots.py),
holding no database connection while asleep, and giving up early when the client hung up."""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from flask import current_app, request

from app.api.wait_slots import NoWaitSlot
from app.errors import ApiError
from app.extensions import db

T = TypeVar("T")
POLL_SECONDS = 0.1  # between two looks at the database


@contextmanager
def wait_slot(app_id: int) -> Iterator[None]:
    """Hold one of the app's wait slots for the block; a 429 `too_many_waits` when none is free."""
    try:
        with current_app.extensions["wait_slots"].slot(app_id):
            yield
    except NoWaitSlot as full:
        raise ApiError(
            429,
            "too_many_waits",
            f"{full.limit} long-polls are already waiting {full.scope}: retry shortly, "
            "or ask without ?wait=.",
            headers={"Retry-After": "1"},
        )


def poll(look: Callable[[], T | None], deadline: float) -> T | None:
    """Call `look` every POLL_SECONDS until it answers something other than None (returned),
    the monotonic `deadline` passes or the client hangs up (None).

    Each look's transaction is ended before the sleep: that returns its connection to the pool
    (shared with every other request of this process) and lets the next look see rows
    committed meanwhile.
    """
    while True:
        db.session.rollback()
        if time.monotonic() >= deadline or client_hung_up():
            return None
        time.sleep(POLL_SECONDS)
        found = look()
        if found is not None:
            return found


def client_hung_up() -> bool:
    """Whether the client closed its connection, so a wait can give its slot back now rather
    than at its deadline (behind nginx too: nginx closes its upstream connection then)."""
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
        return False  # no socket to look at (a test client), or TLS (no peeking): keep waiting
    try:
        poller = select.poll()  # not select.select: descriptors above 1023 are common here
        poller.register(sock, select.POLLIN)
        # Readable with nothing to read is the end of the stream; data is a pipelined request.
        return bool(poller.poll(0)) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # reset by the peer, or closed under us
        return True
