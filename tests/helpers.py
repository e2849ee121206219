"""Test helpers: judge events exactly as the ingest endpoint does, and count stored rows."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import redis
from flask import Flask, request
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from app.extensions import db
from app.ingest.endpoint_steps import request_info
from app.models import Event
from app.services.ingestion.event_stream import STREAM, decode
from app.services.ingestion.stored_event import StoredEvent
from app.services.ingestion.verdicts import prepare_native

DEMO_PLAN = json.loads((Path(__file__).parent.parent / "app/validation/demo_plan.json").read_text())


def queued_message(flask_app: Flask, write_key: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The message the ingest endpoint would queue for `raw` (with a real signed task id)."""
    with flask_app.test_request_context():
        entry = flask_app.extensions["app_directory"].lookup(write_key)
        return prepare_native(raw, request_info(entry, write_key, request)).message.to_dict()


def count_events(flask_app: Flask, **where: Any) -> int:
    """How many stored events match the column values given."""
    with flask_app.app_context():
        query = select(func.count()).select_from(Event)
        for column, value in where.items():
            query = query.where(getattr(Event, column) == value)
        count = db.session.scalar(query)
        db.session.remove()
        return count


def broker_messages(flask_app: Flask, queue: str = "default") -> list[dict[str, Any]]:
    """Celery messages waiting in a queue, oldest first, as kombu stored them."""
    if flask_app.config["REDIS_URL"]:
        with redis.Redis.from_url(flask_app.config["REDIS_URL"]) as client:
            raw = client.lrange(queue, 0, -1)
        raw.reverse()  # kombu LPUSHes; its consumer pops from the right
    else:
        folder = Path(flask_app.config["DATA_DIR"]) / "broker"
        files = sorted(
            folder.glob(f"*.{queue}.msg"),
            key=lambda p: (int(p.name.split("_", 1)[0]), p.stat().st_mtime_ns),
        )
        raw = [p.read_bytes() for p in files]
    return [json.loads(item) for item in raw]


def message_args(envelope: dict[str, Any]) -> list[Any]:
    """The positional arguments of a queued Celery message."""
    body = envelope["body"]
    if envelope["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args, _kwargs, _embed = json.loads(body)
    return args


def queue_length(flask_app: Flask) -> int:
    """How many requests' events wait to be stored (stream entries, or micro's messages)."""
    if flask_app.config["REDIS_URL"]:
        with redis.Redis.from_url(flask_app.config["REDIS_URL"]) as client:
            return client.xlen(STREAM)
    return len(list((Path(flask_app.config["DATA_DIR"]) / "broker").glob("*.default.msg")))


def queued_events(flask_app: Flask) -> list[dict[str, Any]]:
    """The event messages a worker would store, across all queued requests, oldest first."""
    if flask_app.config["REDIS_URL"]:
        with redis.Redis.from_url(flask_app.config["REDIS_URL"]) as client:
            entries = [e for _, fields in client.xrange(STREAM) for e in decode(fields)]
        # A stream entry leaves out its empty fields (StoredEvent.to_json): they read as None.
        return [{field: entry.get(field) for field in StoredEvent._fields} for entry in entries]
    events: list[dict[str, Any]] = []
    for envelope in broker_messages(flask_app):
        assert envelope["headers"]["task"] == "app.tasks.events.process_events_async"
        events.extend(message_args(envelope)[0])
    return events


def assert_error(response, status: int, code: str | None = None) -> dict[str, Any]:
    """A JSON error body `{"code", "message"[, "errors"]}` with this status."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"code", "message", "errors"}
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_documented(flask_app: Flask, component: str, answer: Any) -> None:
    """Check an answer against its schema in the app's /openapi.json (JSON Schema 2020-12)."""
    document = flask_app.test_client().get("/openapi.json").json
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    Draft202012Validator(schema).validate(answer)


SDK_PLAN = {
    "events": {
        "Order Completed": {
            "type": "object",
            "properties": {"revenue": {"type": "number", "minimum": 0}},
            "required": ["revenue"],
        },
        "Home": {"type": "object", "properties": {"tab": {"enum": ["feed", "search"]}}},
    },
    "types": {
        "identify": {
            "type": "object",
            "properties": {"email": {"type": "string", "format": "email", "pii": True}},
            "required": ["email"],
        },
        "group": {"type": "object", "properties": {"plan": {"enum": ["free", "pro"]}}},
        "page": {"type": "object", "required": ["path"]},
        "alias": {"type": "object", "properties": {"userId": {"type": "string"}}},
    },
}
