"""From a parsed event to its verdict: checks, judgement against the plan, hash, task id.

Both formats end here: native events (`prepare_native`) and SDK messages in the Segment format
(`prepare_sdk`). Each is checked, judged against the app's compiled plan (`judge`, which
re-validation uses too) and turned into the message a worker stores; admission.py then admits
the request (rate, backlog, dedup) and queues it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from marshmallow import ValidationError

from app.errors import ServiceError
from app.schemas import field_errors
from app.schemas.native_event import NATIVE_EVENT, native_properties, quick_load
from app.schemas.sdk_message import SDK_MESSAGE
from app.services.ingestion.app_directory import AppEntry
from app.services.ingestion.stored_event import StoredEvent, Unstorable, json_text_problem
from app.services.ingestion.task_ids import new_task_id
from app.validation import CompiledPlan, Verdict, canonical_json, pii

QUEUED = "Event queued for processing"
BLOCKED = "Event blocked by the tracking plan; not stored"


class EventError(ServiceError):
    """One event is malformed: answered alone (400/413), or `rejected` in its batch slot."""

    def rejected(self) -> dict[str, Any]:
        """This error as a batch slot."""
        slot = {"status": "rejected", "code": self.code, "message": self.message}
        if self.errors:
            slot["errors"] = self.errors
        return slot


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
        raise EventError("invalid", "not_an_object", "An event is a JSON object.")
    try:
        text = canonical_json(raw)
        canonical = text.encode("utf-8")
    except UnicodeEncodeError:
        raise EventError(
            "invalid", "invalid_unicode", "The event contains a lone surrogate (\\ud8xx)."
        )
    except ValueError:  # 1e400 parses as infinity, which no JSON column can hold
        raise EventError(
            "invalid",
            "non_finite_number",
            "The event contains a number beyond a double (e.g. 1e400).",
        )
    # PostgreSQL text and jsonb cannot hold U+0000, so such an event could never be stored.
    if "\\u0000" in text and json_text_problem(text):
        raise EventError(
            "invalid", "nul_character", "The event contains a NUL character (\\u0000)."
        )
    if len(canonical) > info.max_event_bytes:
        raise EventError(
            "too_large", "event_too_large", f"An event may be at most {info.max_event_bytes} bytes."
        )
    return canonical


def _load(schema, raw: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(raw)
    except ValidationError as exc:
        raise EventError(
            "invalid", "invalid_event", "The event's fields are malformed.", field_errors(exc)
        )


def prepare_native(raw: Any, info: RequestInfo) -> Prepared:
    """Judge one native event (`{"eventName", ...properties}`); EventError when malformed."""
    canonical = _canonical(raw, info)
    fields = quick_load(raw) or _load(NATIVE_EVENT, raw)
    name = fields["eventName"]
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
    verdict = judge(
        info.entry.plan, "track", name, raw, native=True, pii_policy=info.entry.pii_policy
    )
    return _prepared(raw, canonical, envelope, verdict, info)


def prepare_sdk(
    raw: Any, info: RequestInfo, message_type: str | None = None, batch: dict | None = None
) -> Prepared:
    """Judge one Segment-format message; `message_type` is the endpoint's, `batch` the body
    around it (its `sentAt` and `context` apply to messages without their own). A `writeKey` in
    the message is a credential, not the event's data: it is neither stored nor hashed, so the
    message sent with Basic auth, with a body key or in an imported file is one event."""
    if isinstance(raw, dict) and "writeKey" in raw:
        raw = {name: value for name, value in raw.items() if name != "writeKey"}
    canonical = _canonical(raw, info)
    fields = _load(SDK_MESSAGE, raw if message_type is None else {**raw, "type": message_type})
    kind = fields["type"]
    if kind == "track":
        name = fields["event"]
    elif kind in ("screen", "page"):
        name = fields.get("name") or kind
    else:  # identify, group, alias: named after their type
        name = kind
    verdict = judge(info.entry.plan, kind, name, raw, pii_policy=info.entry.pii_policy)
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


def judge(
    plan: CompiledPlan,
    kind: str,
    name: str,
    payload: dict[str, Any],
    *,
    native: bool = False,
    pii_policy: str = "off",
) -> Verdict:
    """The verdict of one event of type `kind` named `name`: a native event's properties are
    its fields beside the envelope; an SDK message's are `properties` (track, screen, page),
    `traits` (identify, group) or its two ids (alias). Live events and re-validation alike.
    Under a `pii_policy` other than off, personal data in those properties outside what the
    plan allows is a `pii` violation (app/validation/pii.py)."""
    if native:
        subject, root = native_properties(payload), "/properties"
        verdict = plan.validate(name, subject)
        allowed = plan.pii_allowed(name)
    elif kind in ("track", "screen"):
        subject, root = payload.get("properties") or {}, "/properties"
        pointer = "/event" if kind == "track" else "/name"
        verdict = plan.validate(name, subject, name_pointer=pointer)
        allowed = plan.pii_allowed(name)
    elif kind in ("page", "identify", "group", "alias"):
        if kind == "page":
            subject, root = payload.get("properties") or {}, "/properties"
        elif kind == "alias":
            subject = {"userId": payload.get("userId"), "previousId": payload.get("previousId")}
            root = ""
        else:
            subject, root = payload.get("traits") or {}, "/traits"
        verdict = plan.validate_type(kind, subject, root)
        allowed = plan.pii_allowed_type(kind)
    else:
        raise ValueError(f"unknown event type {kind!r}")
    if pii_policy == "off":
        return verdict
    return pii.judged(verdict, subject, root, allowed, pii_policy, plan.version)


def judge_parsed(raw: Any, info: RequestInfo) -> Prepared:
    """An event of either format, told apart by its fields (an imported line): native with
    `eventName`, else a Segment message with `type`, or `event` for a track without its type."""
    if not isinstance(raw, dict):
        raise EventError("invalid", "not_an_object", "An event is a JSON object.")
    if "eventName" in raw:
        return prepare_native(raw, info)
    if "type" in raw:
        return prepare_sdk(raw, info)
    if "event" in raw:  # a Segment track message without its type
        return prepare_sdk(raw, info, "track")
    raise EventError(
        "invalid",
        "no_event_name",
        "A line needs eventName (native) or type / event (Segment format).",
    )


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
            "invalid",
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
