"""Task ids that prove who issued them, so task state needs no write per event.

A task id is 16 bytes shown as a UUID: 6 random bytes, the issue time in seconds (4 bytes) and
a MAC of both with the app id (6 bytes; keyed BLAKE2b, a few times cheaper than HMAC-SHA256 and
made for this: every event of a batch gets one). A stored row answers "stored"; an id that
verifies but is not stored yet is "queued"; anything else is unknown.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid
from functools import lru_cache


@lru_cache(maxsize=8)
def _key(secret: bytes) -> bytes:
    # BLAKE2b keys are at most 64 bytes; the secret is hashed to fit whatever its length.
    return hashlib.blake2b(secret).digest()


def _mac(secret: bytes, app_id: int, head: bytes) -> bytes:
    data = app_id.to_bytes(8, "big") + head
    return hashlib.blake2b(data, key=_key(secret), digest_size=6).digest()


def new_task_id(secret: bytes, app_id: int, now: float | None = None) -> str:
    """A fresh task id for an event of `app_id`."""
    issued = int(now if now is not None else time.time())
    head = os.urandom(6) + issued.to_bytes(4, "big")
    h = (head + _mac(secret, app_id, head)).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"  # = str(uuid.UUID(...))


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
