"""The native envelope's quick load returns exactly what the marshmallow schema returns, or
nothing (then the schema judges)."""

from __future__ import annotations

import itertools

from marshmallow import ValidationError

from app.schemas.native_event import NATIVE_EVENT, quick_load

NAMES = [None, "", "a", "x" * 255, "x" * 256, 5, True, ["a"], {"a": 1}, "ünï"]
MESSAGE_IDS = ["<absent>", None, "", "m-1", "m" * 256, 7, ["m"]]
CONTEXTS = ["<absent>", None, {}, {"app": {"version": "1"}}, [], "ctx", 3]
EXTRAS = [{}, {"userId": 1, "nested": {"a": [1]}}, {"timestamp": "2026-01-01T00:00:00Z"},
          {"sentAt": "nope"}]  # fmt: skip


def test_quick_load_agrees_with_the_schema_wherever_it_answers():
    answered = 0
    for name, message_id, context, extra in itertools.product(NAMES, MESSAGE_IDS, CONTEXTS, EXTRAS):
        raw = {"eventName": name, **extra}
        if message_id != "<absent>":
            raw["messageId"] = message_id
        if context != "<absent>":
            raw["context"] = context
        quick = quick_load(raw)
        if quick is None:
            continue
        answered += 1
        try:
            full = NATIVE_EVENT.load(raw)
        except ValidationError as exc:
            raise AssertionError(f"quick load passed what the schema refuses: {raw}") from exc
        assert quick == full, raw
    assert answered > 20  # it did answer, so this compared something


def test_events_with_timestamps_or_bad_fields_go_to_the_schema():
    assert quick_load({"eventName": "a", "timestamp": "2026-01-01T00:00:00Z"}) is None
    assert quick_load({"eventName": ""}) is None
    assert quick_load({"eventName": "a", "messageId": None}) is None
    assert quick_load({"eventName": "a", "context": []}) is None
