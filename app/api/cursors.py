"""The list APIs' opaque cursors: where the next page begins, as unpadded URL-safe base64.

An event or test-run cursor holds an id; a task-history cursor holds a Position (its
received_at, kind rank and row id) as compact JSON. Decoding raises ValueError for any text
these functions did not make.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from app.services.storage.task_history import RANK, Position

# A position cursor is ~90 characters; a long one could nest JSON deep enough to exhaust the
# parser's recursion (a RecursionError, not a ValueError).
MAX_POSITION_CHARS = 200


def _encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> bytes:
    """The bytes a cursor holds; ValueError (binascii.Error) when it is not base64."""
    padded = cursor + "=" * (-len(cursor) % 4)
    return base64.urlsafe_b64decode(padded.encode())


def encode_id(row_id: int) -> str:
    """A cursor for the page after the row `row_id`."""
    return _encode(str(row_id))


def decode_id(cursor: str) -> int:
    """The row id a cursor points after; ValueError when malformed."""
    row_id = int(_decode(cursor).decode())
    if not 0 < row_id < 2**63:
        raise ValueError("cursor out of range")
    return row_id


def encode_position(position: Position) -> str:
    """A cursor for the page of tasks after `position`."""
    when = position.received_at.astimezone(UTC).isoformat()
    return _encode(json.dumps([when, position.rank, position.id], separators=(",", ":")))


def decode_position(cursor: str) -> Position:
    """The position a cursor names; ValueError when it is not one `encode_position` made."""
    if len(cursor) > MAX_POSITION_CHARS:
        raise ValueError("cursor too long")
    try:
        when, rank, row_id = json.loads(_decode(cursor))
        received_at = datetime.fromisoformat(when)
    except (TypeError, ValueError, OverflowError) as exc:  # binascii.Error is a ValueError
        raise ValueError("malformed cursor") from exc
    if (
        received_at.tzinfo is None
        or rank not in RANK.values()
        or type(row_id) is not int
        or not 0 < row_id < 2**63
    ):
        raise ValueError("cursor out of range")
    return Position(received_at.astimezone(UTC), rank, row_id)
