"""Task ids that prove who issued them, so task state needs no write per event.

A task id is 16 bytes shown as a UUID: 6 random bytes, the issue time in seconds (4 bytes) and
an HMAC of both with the app id (6 bytes). A stored row answers "stored"; an id that verifies but
is not stored yet is "queued"; anything else is unknown.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid


def _mac(secret: bytes, app_id: int, head: bytes) -> bytes:
    return hmac.new(secret, app_id.to_bytes(8, "big") + head, hashlib.sha256).digest()[:6]


def new_task_id(secret: bytes, app_id: int, now: float | None = None) -> str:
    """A fresh task id for an event of `app_id`."""
    issued = int(now if now is not None else time.time())
    head = os.urandom(6) + issued.to_bytes(4, "big")
    return str(uuid.UUID(bytes=head + _mac(secret, app_id, head)))


def issued_at(secret: bytes, app_id: int, task_id: str) -> int | None:
    """When this service issued `task_id` for `app_id` (epoch seconds), or None if it did not."""
    try:
        raw = uuid.UUID(task_id).bytes
    except ValueError:
        return None
    head, mac = raw[:10], raw[10:]
    if not hmac.compare_digest(mac, _mac(secret, app_id, head)):
        return None
    return int.from_bytes(head[6:], "big")
