"""From a parsed event to its answer: verdict, hash, task id, admission, enqueue.

Both formats end here: native events (`prepare_native`) and SDK messages in the Segment format
(`prepare_sdk`). Each is checked, judged against the app's compiled plan and turned into the
message a worker stores; `accept` then admits the request (rate, backlog, dedup) and queues it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import redis
from kombu.exceptions import KombuError
from marshmallow import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from app.errors import ApiError
from app.schemas.native_event import ENVELOPE_FIELDS, NATIVE_EVENT, quick_load
from app.schemas.sdk_message import SDK_MESSAGE
from app.services.admission import Admission, Backlogged, RateLimited
from app.services.app_directory import AppEntry
from app.services.task_ids import new_task_id
from app.validation import Verdict, canonical_json

# An escaped NUL in canonical JSON: `\u0000` after an even number of backslashes.
_NUL_ESCAPE = re.compile(r"(?:^|[^\\])(?:\\\\)*\\u0000")
QUEUED = "Event queued for processing"
BLOCKED = "Event blocked by the tracking plan; not stored"
DUPLICATE = "Duplicate of an event already accepted; not stored again"


class EventError(Exception):
    """One event is malformed: answered alone (400/413), or `rejected` in its batch slot."""

    def __init__(self, status: int, code: str, message: str, errors: list | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def rejected(self) -> dict[str, Any]:
        """This error as a batch slot."""
        slot = {"status": "rejected", "code": self.code, "message": self.message}
        if self.errors:
            slot["errors"] = self.errors
        return slot

    def api_error(self) -> ApiError:
        """This error as a whole-request answer."""
        return ApiError(self.status, self.code, self.message, self.errors)


@dataclass
class Prepared:
    """An event checked and judged, ready to be admitted and queued."""

    message: dict[str, Any]  # what the worker stores
    answer: dict[str, Any]  # what the client is told
    dedup_key: str
    blocked: bool


@dataclass(frozen=True)
class RequestInfo:
    """What every event of one request shares."""

    entry: AppEntry
    write_key: str
    received_at: datetime
    test_run: str | None
    secret: bytes
    max_event_bytes: int

    @cached_property
    def received_iso(self) -> str:
        """received_at in ISO 8601, written once per request rather than once per event."""
        return self.received_at.isoformat()


@dataclass(frozen=True)
class Envelope:
    """What the service itself reads of an event, whatever its format."""

    type: str
    event_name: str
    message_id: str | None
    client_time: datetime | None
    sent_at: datetime | None
    context: dict[str, Any]
    user_id: Any
    anonymous_id: Any


def _canonical(raw: Any, info: RequestInfo) -> bytes:
    """The event's canonical JSON bytes, after the checks every event passes."""
    if not isinstance(raw, dict):
        raise EventError(400, "not_an_object", "An event is a JSON object.")
    try:
        text = canonical_json(raw)
        canonical = text.encode("utf-8")
    except UnicodeEncodeError:
        raise EventError(400, "invalid_unicode", "The event contains a lone surrogate (\\ud8xx).")
    # PostgreSQL text and jsonb cannot hold U+0000, so such an event could never be stored.
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise EventError(400, "nul_character", "The event contains a NUL character (\\u0000).")
    if len(canonical) > info.max_event_bytes:
        raise EventError(
            413, "event_too_large", f"An event may be at most {info.max_event_bytes} bytes."
        )
    return canonical


def _load(schema, raw: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(raw)
    except ValidationError as exc:
        errors = [
            {"field": f, "message": " ".join(m)} for f, m in exc.normalized_messages().items()
        ]
        raise EventError(400, "invalid_event", "The event's fields are malformed.", errors)


def prepare_native(raw: Any, info: RequestInfo) -> Prepared:
    """Judge one native event (`{"eventName", ...properties}`); EventError when malformed."""
    canonical = _canonical(raw, info)
    fields = quick_load(raw) or _load(NATIVE_EVENT, raw)
    name = fields["eventName"]
    properties = {k: v for k, v in raw.items() if k not in ENVELOPE_FIELDS}
    envelope = Envelope(
        type="track",
        event_name=name,
        message_id=fields.get("messageId"),
        client_time=fields.get("timestamp"),
        sent_at=fields.get("sentAt"),
        context=fields.get("context") or {},
        user_id=raw.get("userId"),
        anonymous_id=raw.get("anonymousId"),
    )
    return _prepared(raw, canonical, envelope, info.entry.plan.validate(name, properties), info)


def prepare_sdk(
    raw: Any, info: RequestInfo, message_type: str | None = None, batch: dict | None = None
) -> Prepared:
    """Judge one Segment-format message; `message_type` is the endpoint's, `batch` the body
    around it (its `sentAt` and `context` apply to messages without their own)."""
    canonical = _canonical(raw, info)
    fields = _load(SDK_MESSAGE, raw if message_type is None else {**raw, "type": message_type})
    kind = fields["type"]
    plan = info.entry.plan
    properties = fields.get("properties") or {}
    if kind == "track":
        name = fields["event"]
        verdict = plan.validate(name, properties, name_pointer="/event")
    elif kind == "screen":
        name = fields.get("name") or kind
        verdict = plan.validate(name, properties, name_pointer="/name")
    elif kind == "page":
        name = fields.get("name") or kind
        verdict = plan.validate_type(kind, properties, "/properties")
    elif kind in ("identify", "group"):
        name = kind
        verdict = plan.validate_type(kind, fields.get("traits") or {}, "/traits")
    else:  # alias
        name = kind
        ids = {"userId": raw.get("userId"), "previousId": raw.get("previousId")}
        verdict = plan.validate_type(kind, ids, "")
    batch = batch or {}
    envelope = Envelope(
        type=kind,
        event_name=name,
        message_id=fields.get("messageId"),
        client_time=fields.get("timestamp"),
        sent_at=fields.get("sentAt") or batch.get("sentAt"),
        context=fields.get("context") or batch.get("context") or {},
        user_id=raw.get("userId"),
        anonymous_id=raw.get("anonymousId"),
    )
    return _prepared(raw, canonical, envelope, verdict, info)


def _text(value: Any, limit: int) -> str | None:
    """A value as a bounded string column (None when absent or not a scalar)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)[:limit]


def _context_value(context: dict[str, Any], section: str, key: str) -> Any:
    part = context.get(section)
    return part.get(key) if isinstance(part, dict) else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _prepared(
    raw: dict[str, Any], canonical: bytes, env: Envelope, verdict: Verdict, info: RequestInfo
) -> Prepared:
    payload_hash = hashlib.sha256(canonical).hexdigest()
    # Correct the client's clock: the event happened (sentAt - timestamp) before we received it.
    event_time = env.client_time or info.received_at
    if env.client_time is not None and env.sent_at is not None:
        try:
            event_time = info.received_at - (env.sent_at - env.client_time)
        except OverflowError:  # absurd client clocks: keep the client's own time
            event_time = env.client_time
    task_id = None if verdict.blocked else new_task_id(info.secret, info.entry.app_id)
    context = env.context if isinstance(env.context, dict) else {}
    message = {
        "task_id": task_id,
        "app_id": info.entry.app_id,
        "type": env.type,
        "event_name": env.event_name,
        "status": verdict.status,
        "violations": verdict.violations,
        "plan_version": info.entry.plan.version,
        "payload": raw,
        "payload_hash": payload_hash,
        "message_id": env.message_id,
        "user_id": _text(env.user_id, 255),
        "anonymous_id": _text(env.anonymous_id, 255),
        "received_at": info.received_iso,
        "sent_at": _iso(env.sent_at),
        "client_timestamp": _iso(env.client_time),
        "timestamp": info.received_iso if event_time is info.received_at else _iso(event_time),
        "app_version": _text(_context_value(context, "app", "version"), 64),
        "os_name": _text(_context_value(context, "os", "name"), 64),
        "device_id": _text(_context_value(context, "device", "id"), 255),
        "library_name": _text(_context_value(context, "library", "name"), 128),
        "library_version": _text(_context_value(context, "library", "version"), 64),
        "test_run": _text(context.get("testRun"), 255) or info.test_run,
    }
    answer = {
        "event_name": env.event_name,
        "status": verdict.status,
        "task_id": task_id,
        "payload_hash": payload_hash,
        "errors": verdict.violations,
        "message": BLOCKED if verdict.blocked else QUEUED,
    }
    if verdict.blocked:
        answer["blocked"] = True
    # The same messageId dedups across formats; without one, the same payload does.
    dedup_key = f"m:{env.message_id}" if env.message_id else f"h:{payload_hash}"
    return Prepared(message, answer, dedup_key, verdict.blocked)


def unavailable(reason: str) -> ApiError:
    """503 with Retry-After: SDKs retry, and nothing unqueued was accepted."""
    return ApiError(503, "unavailable", reason, headers={"Retry-After": "1"})


def accept(info: RequestInfo, prepared: list[Prepared], admission: Admission) -> None:
    """Admit the request and queue its new events; duplicates' answers point at the original."""
    fresh = [p for p in prepared if not p.blocked]
    events = [(p.dedup_key, p.message) for p in fresh]
    try:
        owners = admission.admit(info.entry.app_id, info.write_key, events)
    except RateLimited as exc:
        raise ApiError(
            429,
            "rate_limited",
            f"Too many requests for this write key; retry in {exc.retry_after}s.",
            headers={"Retry-After": str(exc.retry_after)},
        )
    except Backlogged:
        raise unavailable("The storage queue is over its backlog limit; retry shortly.")
    except (redis.RedisError, SQLAlchemyError, KombuError, OSError):
        raise unavailable("The queue is unreachable; retry shortly.")
    for item, owner in zip(fresh, owners, strict=True):
        if owner is not None:
            item.answer.update(status="duplicate", task_id=owner, message=DUPLICATE)
