"""The one message an accepted event travels in, from whatever accepted it to the row a worker
stores, and the checks that make every column of that row storable on PostgreSQL and SQLite.

Every source builds it here: the ingestion endpoints (native, SDK single, SDK batch with its
shared `context`/`sentAt`) and import lines through `StoredEvent.accept`, queued copies read
back (the micro task, a replayed dead letter, the drain's careful path) through
`StoredEvent.from_dict`, which checks again what a queue or a database handed back.

What "storable" means, for both databases:
- text columns hold no NUL (PostgreSQL refuses U+0000) and no lone surrogate (not UTF-8), and
  fit their column; values taken from the client are cut to the column's length, except a
  test run's name, refused when too long (runs are told apart by their whole name);
- the JSON columns (payload, violations) hold the same kind of text and finite numbers only;
- times lie in [TIME_MIN, TIME_MAX) UTC: PostgreSQL would keep year 1 BC or 10000, which
  Python (psycopg) cannot read back.
Anything else raises Unstorable naming the client's field, answered 400 / `rejected`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from app.validation.violations import json_type

# Times an event may carry (client timestamp, sentAt, and so the corrected event time).
TIME_MIN = datetime(1900, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(3000, 1, 1, tzinfo=UTC)
TIME_RANGE = "from 1900-01-01 to 2999-12-31 (UTC)"
# An escaped NUL in JSON text: `\u0000` after an even number of backslashes.
_NUL_ESCAPE = re.compile(r"(?:^|[^\\])(?:\\\\)*\\u0000")
# Column lengths (app/models/event.py).
_LIMITS = {
    "task_id": 64,
    "type": 16,
    "event_name": 255,
    "status": 16,
    "payload_hash": 64,
    "message_id": 255,
    "user_id": 255,
    "anonymous_id": 255,
    "app_version": 64,
    "os_name": 64,
    "device_id": 255,
    "library_name": 128,
    "library_version": 64,
    "test_run": 255,
}
TEST_RUN_MAX = _LIMITS["test_run"]
# Columns refused rather than cut when too long: a test run is looked up by its whole name, so
# cutting would merge runs that differ after the limit and 404 the report of the full name.
_WHOLE = frozenset({"test_run"})
# The client's name for each column taken from it (what an error names).
_CLIENT_FIELD = {
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "message_id": "messageId",
    "app_version": "context.app.version",
    "os_name": "context.os.name",
    "device_id": "context.device.id",
    "library_name": "context.library.name",
    "library_version": "context.library.version",
    "test_run": "context.testRun",
    "client_timestamp": "timestamp",
    "sent_at": "sentAt",
}
_TIME_COLUMNS = ("received_at", "sent_at", "client_timestamp", "timestamp")
_JSON_COLUMNS = ("violations", "payload")
_BIGINT = 2**63


class Unstorable(ValueError):
    """A value no database column could hold; `field` names it as the client sent it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text (NUL, lone surrogate), or None."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which cannot be stored"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (\\ud800-\\udfff), which is not UTF-8"
    return None


def json_text_problem(text: str) -> str | None:
    """Why JSON text (as json.dumps writes it, ensure_ascii=False) cannot be stored as jsonb."""
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        return "contains a NUL character (\\u0000), which cannot be stored"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (\\ud800-\\udfff), which is not UTF-8"
    return None


def check_time(value: datetime | None, field: str) -> datetime | None:
    """A client time inside the storable range; Unstorable naming `field` outside it."""
    if value is not None and not TIME_MIN <= value < TIME_MAX:
        raise Unstorable(field, f"must lie {TIME_RANGE}")
    return value


def _client_text(value: Any, column: str) -> str | None:
    """A client's scalar as a bounded text column (None when absent or not a scalar)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    if len(text) > _LIMITS[column]:
        if column in _WHOLE:
            raise Unstorable(_CLIENT_FIELD[column], f"is longer than {_LIMITS[column]} characters")
        text = text[: _LIMITS[column]]
    if not text.isascii() or "\x00" in text:
        problem = text_problem(text)
        if problem:
            raise Unstorable(_CLIENT_FIELD[column], problem)
    return text


def _run_name(value: Any) -> str | None:
    """`context.testRun`: a name, so a string (a number or `true` would become a run named
    after Python's spelling of it; an object would silently belong to no run)."""
    if value is not None and not isinstance(value, str):
        raise Unstorable(_CLIENT_FIELD["test_run"], f"must be a string, got {json_type(value)}")
    return _client_text(value, "test_run")


def _context_value(context: dict[str, Any], section: str, key: str) -> Any:
    part = context.get(section)
    return part.get(key) if isinstance(part, dict) else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class StoredEvent(NamedTuple):
    """One event as a worker stores it: a row of `events`, every column storable. (A named
    tuple: immutable like a frozen dataclass, and several times cheaper to build and to write
    as JSON, which every accepted event pays on the request path.)"""

    task_id: str | None  # None only for a blocked event, which is never queued
    app_id: int
    type: str
    event_name: str
    status: str
    violations: list[dict[str, Any]]
    plan_version: int | None
    payload: dict[str, Any]
    payload_hash: str
    message_id: str | None
    user_id: str | None
    anonymous_id: str | None
    received_at: str  # times: ISO 8601 with offset
    sent_at: str | None
    client_timestamp: str | None
    timestamp: str
    app_version: str | None
    os_name: str | None
    device_id: str | None
    library_name: str | None
    library_version: str | None
    test_run: str | None

    @classmethod
    def accept(
        cls,
        *,
        task_id: str | None,
        app_id: int,
        type: str,
        event_name: str,
        status: str,
        violations: list[dict[str, Any]],
        plan_version: int | None,
        payload: dict[str, Any],
        payload_hash: str,
        message_id: str | None,
        user_id: Any,
        anonymous_id: Any,
        received_at: datetime,
        received_iso: str,
        sent_at: datetime | None,
        client_time: datetime | None,
        context: Any,
        test_run: str | None,
    ) -> StoredEvent:
        """An event just judged. The payload was checked with its canonical JSON (verdicts.py);
        this checks the columns derived from it and from the request around it."""
        check_time(client_time, "timestamp")
        check_time(sent_at, "sentAt")
        # Correct the client's clock: it happened (sentAt - timestamp) before we received it.
        event_time = client_time or received_at
        if client_time is not None and sent_at is not None:
            try:
                event_time = received_at - (sent_at - client_time)
            except OverflowError:
                event_time = client_time
            if not TIME_MIN <= event_time < TIME_MAX:  # absurd clocks: keep the client's time
                event_time = client_time
        context = context if isinstance(context, dict) else {}
        return cls(
            task_id=task_id,
            app_id=app_id,
            type=type,
            event_name=event_name,
            status=status,
            violations=violations,
            plan_version=plan_version,
            payload=payload,
            payload_hash=payload_hash,
            message_id=_client_text(message_id, "message_id"),
            user_id=_client_text(user_id, "user_id"),
            anonymous_id=_client_text(anonymous_id, "anonymous_id"),
            received_at=received_iso,
            sent_at=_iso(sent_at),
            client_timestamp=_iso(client_time),
            timestamp=received_iso if event_time is received_at else event_time.isoformat(),
            app_version=_client_text(_context_value(context, "app", "version"), "app_version"),
            os_name=_client_text(_context_value(context, "os", "name"), "os_name"),
            device_id=_client_text(_context_value(context, "device", "id"), "device_id"),
            library_name=_client_text(_context_value(context, "library", "name"), "library_name"),
            library_version=_client_text(
                _context_value(context, "library", "version"), "library_version"
            ),
            test_run=_run_name(context.get("testRun")) or test_run,
        )

    @classmethod
    def from_dict(cls, message: Any) -> StoredEvent:
        """A queued copy read back (a task's argument, a stream entry, a dead letter), checked
        again as a whole: Unstorable when any column could not be stored."""
        if not isinstance(message, dict):
            raise Unstorable("message", "is not a JSON object")
        values: dict[str, Any] = {}
        for field in _FIELDS:
            value = message.get(field)
            if field in _LIMITS:
                if value is None and field in _OPTIONAL:
                    values[field] = None
                    continue
                shortest = 0 if field in _OPTIONAL else 1
                if not isinstance(value, str) or not shortest <= len(value) <= _LIMITS[field]:
                    raise Unstorable(
                        field, f"must be a string of {shortest} to {_LIMITS[field]} characters"
                    )
                problem = text_problem(value)
                if problem:
                    raise Unstorable(field, problem)
            elif field in _TIME_COLUMNS:
                if value is None and field in _OPTIONAL:
                    values[field] = None
                    continue
                try:
                    parsed = datetime.fromisoformat(value)
                except (TypeError, ValueError):
                    raise Unstorable(field, f"must be an ISO 8601 time, got {value!r:.100}")
                if parsed.tzinfo is None:
                    raise Unstorable(field, "must carry its UTC offset")
                check_time(parsed, field)
            elif field in ("app_id", "plan_version"):
                if value is None and field == "plan_version":
                    values[field] = None
                    continue
                lowest = 1 if field == "app_id" else 0  # plan version 0: the app has no plan
                if type(value) is not int or not lowest <= value < _BIGINT:
                    raise Unstorable(field, f"must be a 64-bit integer from {lowest}")
            else:  # the JSON columns
                expected = list if field == "violations" else dict
                if not isinstance(value, expected):
                    raise Unstorable(field, f"must be a JSON {expected.__name__}")
                try:
                    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
                except ValueError:
                    raise Unstorable(field, "holds a number that is not finite")
                except RecursionError:
                    raise Unstorable(field, "nests too deep")
                problem = json_text_problem(text)
                if problem:
                    raise Unstorable(field, problem)
            values[field] = value
        return cls(**values)

    def with_task_id(self, task_id: str) -> StoredEvent:
        """The same event under another task id (imports derive theirs)."""
        return self._replace(task_id=task_id)

    def to_dict(self) -> dict[str, Any]:
        """The message as a plain dict (a Celery argument, a dead letter's copy)."""
        return dict(zip(_FIELDS, self, strict=True))

    def to_json(self) -> str:
        """The message as JSON text (a stream entry's element), without its empty fields: an
        entry waits in Redis's memory until stored, and a third of a typical one was nulls.
        Read back, a missing field is None (from_dict, and the drain's `m->>'field'`)."""
        message = {
            field: value for field, value in zip(_FIELDS, self, strict=True) if value is not None
        }
        try:
            return orjson.dumps(message).decode()
        except TypeError:  # an integer beyond 64 bits: the standard library writes any size
            return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


_FIELDS = StoredEvent._fields
_OPTIONAL = frozenset(
    {
        "message_id",
        "user_id",
        "anonymous_id",
        "sent_at",
        "client_timestamp",
        "app_version",
        "os_name",
        "device_id",
        "library_name",
        "library_version",
        "test_run",
    }
)
