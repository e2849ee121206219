"""Canonical JSON encoding and hashing, so equal documents get equal bytes."""

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    """Serialise obj to compact JSON with sorted keys; NaN/Infinity raise ValueError."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def payload_hash(obj: Any) -> str:
    """Return the lowercase hex SHA-256 of canonical_json(obj) encoded as UTF-8."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()
