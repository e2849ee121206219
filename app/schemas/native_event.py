"""The envelope of a native event (`POST /api/logs/<key>`); everything else is properties."""

from datetime import UTC

from marshmallow import EXCLUDE, Schema, fields, validate

# Fields the service reads itself; every other top-level field is a property of the event.
ENVELOPE_FIELDS = frozenset({"eventName", "messageId", "timestamp", "sentAt", "context"})


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
