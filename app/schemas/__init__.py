"""marshmallow schemas of what clients send."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """marshmallow's messages as `[{"field", "message"}]`; nested ones (a list's item, a dict's
    key) are named by their dotted path, e.g. `batch.2`."""
    errors: list[dict[str, str]] = []

    def walk(messages: Any, path: str) -> None:
        if isinstance(messages, dict):
            for key, value in messages.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
            errors.append({"field": path, "message": " ".join(messages)})
        elif isinstance(messages, list):
            for item in messages:
                walk(item, path)
        else:
            errors.append({"field": path, "message": str(messages)})

    walk(exc.normalized_messages(), "")
    return errors
