"""The json kind's signature: X-LVD-Signature = sha256=<hex HMAC-SHA256(secret,
f"{timestamp}.{body}")>, the timestamp being X-LVD-Timestamp (unix seconds), so a receiver can
refuse old replays."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-LVD-Signature header's value for a body sent at `timestamp`."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
