"""From a parsed event to its answer: verdict, hash, task id, admission, enqueue.

Both formats end here: native events (`prepare_native`) and SDK messages in the Segment format
(`prepare_sdk`). Each is checked, judged against the app's compiled plan and turned into the
message a worker stores; `accept` then admits the request (rate, backlog, dedup) and queues it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import redis
from kombu.exceptions import KombuError
from marshmallow import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from app.errors import ApiError
from app.schemas import field_errors
from app.schemas.native_event import ENVELOPE_FIELDS, NATIVE_EVENT, quick_load
from app.schemas.sdk_message import SDK_MESSAGE
from app.services.ingestion.admission import Admission, Backlogged, RateLimited
from app.services.ingestion.app_directory import AppEntry
from app.services.ingestion.stored_event import StoredEvent, Unstorable, json_text_problem
from app.services.ingestion.task_ids import new_task_id
from app.validation import Verdict, canonical_json

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

    message: StoredEvent  # what the worker stores
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
    except ValueError:  # 1e400 parses as infinity, which no JSON column can hold
        raise EventError(
            400, "non_finite_number", "The event contains a number beyond a double (e.g. 1e400)."
        )
    # PostgreSQL text and jsonb cannot hold U+0000, so such an event could never be stored.
    if "\\u0000" in text and json_text_problem(text):
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
        raise EventError(
            400, "invalid_event", "The event's fields are malformed.", field_errors(exc)
        )


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


def _prepared(
    raw: dict[str, Any], canonical: bytes, env: Envelope, verdict: Verdict, info: RequestInfo
) -> Prepared:
    payload_hash = hashlib.sha256(canonical).hexdigest()
    task_id = None if verdict.blocked else new_task_id(info.secret, info.entry.app_id)
    try:
        message = StoredEvent.accept(
            task_id=task_id,
            app_id=info.entry.app_id,
            type=env.type,
            event_name=env.event_name,
            status=verdict.status,
            violations=verdict.violations,
            plan_version=info.entry.plan.version,
            payload=raw,
            payload_hash=payload_hash,
            message_id=env.message_id,
            user_id=env.user_id,
            anonymous_id=env.anonymous_id,
            received_at=info.received_at,
            received_iso=info.received_iso,
            sent_at=env.sent_at,
            client_time=env.client_time,
            context=env.context,
            test_run=info.test_run,
        )
    except Unstorable as exc:
        raise EventError(
            400,
            "invalid_event",
            "The event's fields are malformed.",
            [{"field": exc.field, "message": exc.message}],
        )
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
    key = dedup_key(env.message_id, payload_hash, message.test_run)
    return Prepared(message, answer, key, verdict.blocked)


def dedup_key(message_id: str | None, payload_hash: str, test_run: str | None) -> str:
    """What makes two events one: the same messageId across formats, else the same payload,
    within one test run, so a later run judges its events itself (README: Test runs)."""
    key = f"m:{message_id}" if message_id else f"h:{payload_hash}"
    if test_run:
        # Hashed: a run name is up to 255 characters and may hold any separator.
        run = hashlib.blake2b(test_run.encode(), digest_size=16).hexdigest()
        key = f"{key}|r:{run}"
    return key


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
