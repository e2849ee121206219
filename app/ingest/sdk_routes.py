"""SDK-compatible ingestion: the Segment HTTP Tracking API (`/v1/track`, …, `/v1/batch`).

An existing analytics SDK points here by changing one URL. The write key comes as the HTTP Basic
user name or as `writeKey` in the body. Whatever their verdicts, accepted messages are answered
200 `{"success": true, ...}`: SDKs treat any other status as a failure and retry (or drop).

Besides the documented paths, the SDKs' own: `/v1/b` is the batch path of analytics-swift,
analytics-kotlin, analytics-react-native and analytics-next's batching dispatcher; `/v1/t`,
`/v1/p`, … are analytics-next's per-type paths (the type's first letter). docs/sdks.md lists them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request
from marshmallow import ValidationError
from werkzeug.wrappers import Request

from app.errors import ApiError
from app.ingest.body import read_json_body
from app.ingest.cors import allow_cross_origin
from app.ingest.endpoint_steps import accept_batch, accept_one, lookup_app, request_info
from app.schemas import field_errors
from app.schemas.sdk_message import MESSAGE_TYPES, SDK_BATCH
from app.services.ingestion.verdicts import prepare_sdk

sdk = Blueprint("sdk", __name__, url_prefix="/v1")
allow_cross_origin(sdk)

# analytics-next posts each message to `${apiHost}/${type.charAt(0)}`.
SHORT_PATHS = {message_type[0]: message_type for message_type in MESSAGE_TYPES}


def _body_and_key(request: Request) -> tuple[Any, str | None]:
    body = read_json_body(request, current_app.config["MAX_REQUEST_BYTES"])
    auth = request.authorization
    if auth is not None and auth.type == "basic" and auth.username:
        return body, auth.username
    key = body.get("writeKey") if isinstance(body, dict) else None
    return body, key if isinstance(key, str) else None


@sdk.post("/<any(" + ", ".join(MESSAGE_TYPES) + "):message_type>")
@sdk.post("/<any(" + ", ".join(SHORT_PATHS) + "):message_type>")  # analytics-next: /v1/t, …
def single(message_type: str):
    """One message of the endpoint's type (`/v1/track`, or analytics-next's `/v1/t`).
    ---
    post:
      tags: [SDK ingestion]
      requestBody:
        required: true
        content:
          application/json: {schema: SdkSingleSchema}
      responses:
        200: SdkAnswer
        401: Unauthorized
        413: PayloadTooLarge
        415: UnsupportedMediaType
        429: TooManyRequests
        503: Unavailable
    """
    return one_message(request, message_type)


@sdk.post("/batch")
@sdk.post("/import")
@sdk.post("/b")
def batch():
    """`{"batch": [messages], "sentAt"?, "context"?}`; each message says its own type.
    ---
    post:
      tags: [SDK ingestion]
      requestBody:
        required: true
        content:
          application/json: {schema: SdkBatchDocSchema}
      responses:
        200: SdkBatchAnswer
        401: Unauthorized
        413: PayloadTooLarge
        415: UnsupportedMediaType
        429: TooManyRequests
        503: Unavailable
    """
    return batch_of_messages(request)


# What the two views answer, from a request of Flask's or werkzeug's own (app/ingest/fast_lane.py
# calls these with the latter, in an app context).


def one_message(request: Request, message_type: str) -> dict[str, Any]:
    """The verdict of the request's one message (of `message_type` or its one-letter path)."""
    message_type = SHORT_PATHS.get(message_type, message_type)
    body, key = _body_and_key(request)
    info = request_info(lookup_app(key, "sdk"), key, request)
    answer = accept_one(info, lambda: prepare_sdk(body, info, message_type))
    return {"success": True, **answer}


def batch_of_messages(request: Request) -> dict[str, Any]:
    """The verdict of each message of the request's batch; the accepted ones queued."""
    body, key = _body_and_key(request)
    info = request_info(lookup_app(key, "sdk"), key, request)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_batch", 'A batch is {"batch": [messages]}.')
    try:
        envelope = SDK_BATCH.load(body)
    except ValidationError as exc:
        errors = field_errors(exc)
        if any(error["field"] == "batch" for error in errors):
            message = 'A batch is {"batch": [messages]}.'
        else:  # the batch's own fields (its sentAt, context): `errors` names them
            message = "The batch's fields around its messages are malformed."
        raise ApiError(400, "invalid_batch", message, errors)
    answer = accept_batch(
        info, envelope["batch"], lambda raw: prepare_sdk(raw, info, batch=envelope)
    )
    return {"success": True, **answer}
