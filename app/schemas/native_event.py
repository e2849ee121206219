"""The envelope of a native event (`POST /api/logs/<key>`); everything else is properties."""

from datetime import UTC

from marshmallow import EXCLUDE, Schema, fields, validate

# Fields the service reads itself; every other top-level field is a property of the event.
ENVELOPE_FIELDS = frozenset({"eventName", "messageId", "timestamp", "sentAt", "context"})


def native_properties(raw: dict) -> dict:
    """A native event's properties: every top-level field but the envelope."""
    return {k: v for k, v in raw.items() if k not in ENVELOPE_FIELDS}


class NativeEventSchema(Schema):
    """Checks the fields the service understands; properties are left to the tracking plan."""

    class Meta:
        unknown = EXCLUDE

    eventName = fields.String(required=True, validate=validate.Length(min=1, max=255))
    messageId = fields.String(validate=validate.Length(min=1, max=255))
    timestamp = fields.AwareDateTime(default_timezone=UTC)
    sentAt = fields.AwareDateTime(default_timezone=UTC)
    context = fields.Dict(keys=fields.String())


# Built once: a schema instance is reusable and costs more to build than to run.
NATIVE_EVENT = NativeEventSchema()


def quick_load(raw: dict) -> dict | None:
    """What NATIVE_EVENT.load(raw) returns, for the common shape only: a short string event
    name, no timestamps, an optional string messageId and object context. None for anything
    else, which then goes through the schema (its errors name each field). A fifth of the cost
    of a schema load, and events of a batch each pay it (tests/validation/test_quick_load.py)."""
    name = raw.get("eventName")
    if type(name) is not str or not 1 <= len(name) <= 255:
        return None
    if "timestamp" in raw or "sentAt" in raw:
        return None
    fields = {"eventName": name}
    if "messageId" in raw:
        message_id = raw["messageId"]
        if type(message_id) is not str or not 1 <= len(message_id) <= 255:
            return None
        fields["messageId"] = message_id
    if "context" in raw:
        if type(raw["context"]) is not dict:
            return None
        fields["context"] = dict(raw["context"])
    return fields
