"""Strict JSON text: UTF-8 only, no NaN/Infinity, no duplicate keys, no runaway nesting.

Request bodies and the lines of an imported file are parsed alike; `subject` names which one
an error message is about ("body", "line").
"""

from __future__ import annotations

import json
import sys
from typing import Any

from app.errors import ServiceError
from app.validation.canonical import nests_deeper_than

# Far deeper than any real event, and far from Python's recursion limit, which later steps
# (hashing, validation, the queue's encoder) would otherwise hit first.
MAX_JSON_DEPTH = 64


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key {duplicate!r}")
    return result


_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, object_pairs_hook=_object_without_duplicates
)


def parse_strict_json(raw: bytes, subject: str = "body") -> Any:
    """Parse UTF-8 JSON, refusing NaN/Infinity, duplicate keys and runaway nesting
    (ServiceError `invalid`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ServiceError(
            "invalid", "invalid_encoding", f"The {subject} is not valid UTF-8 ({exc.reason})."
        )
    too_deep = ServiceError(
        "invalid", "too_deep", f"JSON may nest at most {MAX_JSON_DEPTH} levels deep."
    )
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise too_deep
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # Python's guard against huge int parsing
            reason = f"a number has more than {sys.get_int_max_str_digits()} digits"
        else:
            reason = str(exc)
        raise ServiceError("invalid", "invalid_json", f"The {subject} is not valid JSON: {reason}.")
    if nests_deeper_than(value, MAX_JSON_DEPTH):
        raise too_deep
    return value
