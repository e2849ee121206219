"""Canonical JSON encoding and hashing, so equal documents get equal bytes; JSON nesting depth."""

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


def nests_deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
