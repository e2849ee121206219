"""A stored event judged again reads the same properties ingestion judged: re-validated with
its own plan version it gets the verdict it was stored with, for every message type of both
formats, in memory and after a round trip through the database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Event
from app.services.ingestion.app_directory import AppEntry
from app.services.ingestion.verdicts import RequestInfo, prepare_native, prepare_sdk
from app.services.jobs.revalidation import stored_verdict
from app.services.storage.events import store_events
from app.validation import compile_plan
from tests.helpers import DEMO_PLAN, SDK_PLAN
from tests.support.profiles import add_app

# The SDK tests' plan beside the demo plan's events; with unknown properties flagged, a page's
# `path` is declared too.
PLAN = {
    **DEMO_PLAN,
    "additional_properties": "flag",
    "events": {**DEMO_PLAN["events"], **SDK_PLAN["events"]},
    "types": {
        **SDK_PLAN["types"],
        "page": {"type": "object", "required": ["path"], "properties": {"path": {}}},
    },
}
NATIVE = [
    {"eventName": "user_login", "userId": 1, "method": "email"},
    {"eventName": "user_login", "userId": "one", "extra": True},
    {
        "eventName": "purchase",
        "price": -1,
        "currency": "eur",
        "items": [{"quantity": 0}, {"sku": 5}],
        "messageId": "m-1",
        "timestamp": "2026-01-01T00:00:00Z",
        "sentAt": "2026-01-01T00:00:01Z",
        "context": {"app": {"version": "1.0"}},
    },
    {"eventName": "nowhere", "x": 1},
    {"eventName": "screen_view", "screen_name": "home", "type": "track", "event": "other"},
    {"eventName": "screen_view", "event": "screen_view"},  # a native event with `event`
]
SDK = [
    ("track", {"event": "Order Completed", "properties": {"revenue": 10}}),
    ("track", {"event": "Order Completed", "properties": {"revenue": -1, "coupon": "x"}}),
    ("track", {"event": "Order Completed", "properties": None}),
    ("track", {"event": "Refund", "properties": {"revenue": 1}}),
    ("track", {"event": "Order Completed", "eventName": "x", "properties": {"revenue": 1}}),
    (None, {"type": "track", "event": "user_login", "eventName": "user_login"}),
    ("screen", {"name": "Home", "properties": {"tab": "profile"}}),
    ("screen", {"properties": {"tab": "feed"}}),
    ("page", {"name": "Pricing", "properties": {"url": "/p"}}),
    ("page", {"properties": {"path": "/p"}}),
    ("identify", {"userId": "u1", "traits": {"email": "not-an-address"}}),
    ("identify", {"userId": "u1"}),
    ("group", {"groupId": "g1", "traits": {"plan": "gold"}}),
    ("alias", {"userId": 7, "previousId": "anon-1"}),
]


@pytest.fixture
def info() -> RequestInfo:
    return RequestInfo(
        entry=AppEntry(app_id=1, plan=compile_plan(PLAN, version=4), pii_policy="warn"),
        write_key="",
        received_at=datetime.now(UTC),
        test_run=None,
        secret=b"secret",
        max_event_bytes=32 * 1024,
    )


def prepared_all(info: RequestInfo) -> list:
    return [prepare_native(raw, info) for raw in NATIVE] + [
        prepare_sdk(raw, info, message_type) for message_type, raw in SDK
    ]


def assert_same_verdict(message: dict, payload: dict, event_type: str, event_name: str) -> None:
    plan = compile_plan(PLAN, version=4)
    verdict = stored_verdict(plan, event_type, event_name, payload, "warn")
    assert (verdict.status, verdict.violations) == (message["status"], message["violations"])


def test_every_kind_of_message_gets_the_verdict_ingestion_gave_it(info):
    statuses = set()
    for prepared in prepared_all(info):
        message = prepared.message.to_dict()
        assert_same_verdict(message, message["payload"], message["type"], message["event_name"])
        statuses.add(message["status"])
    assert statuses == {"valid", "invalid", "unplanned"}  # the cases cover every verdict


def test_a_blocked_event_is_judged_blocked_again(info):
    plan = compile_plan({**PLAN, "unplanned_events": "block"}, version=5)
    verdict = stored_verdict(plan, "track", "nowhere", {"eventName": "nowhere"}, "warn")
    assert verdict.blocked and verdict.status == "unplanned"


def test_after_a_round_trip_through_the_database_too(any_app, info):
    """JSON storage may reorder keys or change number types; the verdict must not change."""
    new = add_app(any_app, plan=PLAN)
    messages = []
    for prepared in prepared_all(info):
        messages.append({**prepared.message.to_dict(), "app_id": new.app.id})
    with any_app.app_context():
        store_events(messages)
        rows = db.session.execute(
            select(Event.type, Event.event_name, Event.payload, Event.status, Event.violations)
        ).all()
        db.session.remove()
    assert len(rows) == len(NATIVE) + len(SDK)
    for row in rows:
        message = {"status": row.status, "violations": row.violations}
        assert_same_verdict(message, row.payload, row.type, row.event_name)
