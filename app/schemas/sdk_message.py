"""A message of the Segment HTTP Tracking API format (what existing analytics SDKs send)."""

from datetime import UTC

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

MESSAGE_TYPES = ("track", "identify", "screen", "page", "group", "alias")
# Which field each type cannot do without.
REQUIRED_BY_TYPE = {"track": "event", "group": "groupId", "alias": "previousId"}


class SdkMessageSchema(Schema):
    """The fields the service reads; the rest of the message is kept as the payload."""

    class Meta:
        unknown = EXCLUDE

    type = fields.String(required=True, validate=validate.OneOf(MESSAGE_TYPES))
    messageId = fields.String(validate=validate.Length(min=1, max=255))
    timestamp = fields.AwareDateTime(default_timezone=UTC, allow_none=True)
    sentAt = fields.AwareDateTime(default_timezone=UTC, allow_none=True)
    event = fields.String(validate=validate.Length(min=1, max=255))
    name = fields.String(validate=validate.Length(max=255), allow_none=True)
    properties = fields.Dict(keys=fields.String(), allow_none=True)
    traits = fields.Dict(keys=fields.String(), allow_none=True)
    context = fields.Dict(keys=fields.String(), allow_none=True)
    groupId = fields.Raw(allow_none=False)
    previousId = fields.Raw(allow_none=False)

    @validates_schema
    def required_by_type(self, data, **kwargs):
        """track needs `event`, group `groupId`, alias `previousId`."""
        needed = REQUIRED_BY_TYPE.get(data.get("type"))
        if needed and data.get(needed) in (None, ""):
            raise ValidationError(f"The {data['type']} message needs {needed}.", needed)


# Built once: a schema instance is reusable and costs more to build than to run.
SDK_MESSAGE = SdkMessageSchema()


class SdkBatchSchema(Schema):
    """The body of `/v1/batch`: messages plus what applies to those that lack their own."""

    class Meta:
        unknown = EXCLUDE

    # Any item, null too: one that is not a message is `rejected` in its slot, not the batch.
    batch = fields.List(fields.Raw(allow_none=True), required=True)
    sentAt = fields.AwareDateTime(default_timezone=UTC, allow_none=True)
    context = fields.Dict(keys=fields.String(), allow_none=True)


SDK_BATCH = SdkBatchSchema()
