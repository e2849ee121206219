"""Hypothesis strategies of the fuzz tests (hostile JSON in every field of every ingestion
endpoint), and the helpers that send it and read the answers."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import strategies as st

from app.extensions import db
from app.models import TrackedApp
from app.services.accounts.users import sign_up, verify_email_now
from tests.dashboard.helpers import PASSWORD, submit

RAW = "\x1eraw:"  # a string standing for a JSON token json.dumps cannot write (see dumps_raw)

# Numbers and tokens that strict JSON or the databases handle badly.
RAW_TOKENS = ["1e400", "-1e400", "1" + "0" * 400, "1e-400", "-0", "NaN", "Infinity", "-Infinity"]

NASTY_TEXT = [
    "",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\u2028\u2029",
    "\x7f\x1b[31m",
    "1.\u00b2",
    "\uff11\uff12",
    "<script>alert(1)</script>",
    "'; DROP TABLE events; --",
    "x" * 300,
    "\U0001f600" * 70,
]

TIMESTAMPS = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z",
    "2026-02-30T00:00:00Z",
    "2026-12-04T10:00:00.123456789Z",
    "2026-12-04T10:00:00+25:00",
    "2026-12-04",
    "20261204T100000Z",
    "+275760-09-13T00:00:00Z",
]

plain_text = st.text(max_size=40)

text = st.one_of(st.sampled_from(NASTY_TEXT), plain_text)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    st.sampled_from(RAW_TOKENS).map(lambda token: RAW + token),
    st.sampled_from(TIMESTAMPS),
)

json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=12,
)

# Deep nesting is its own case: recursive() keeps trees shallow.
deep = st.sampled_from([2, 10, 40, 63, 64, 65, 66, 200]).map(
    lambda depth: json.loads("[" * depth + "]" * depth)
)

# One value in ten is deep (one_of would pick it half the time, and most requests would be
# refused before anything else about them is tried).
hostile = st.sampled_from(range(10)).flatmap(lambda n: deep if n == 9 else json_values)


def field(valid: st.SearchStrategy) -> st.SearchStrategy:
    """A field's value: mostly a plausible one, now and then anything at all (an event has
    several fields, so most events still carry something hostile)."""
    return st.sampled_from(range(6)).flatmap(lambda n: hostile if n == 5 else valid)


names = st.sampled_from(["user_login", "purchase", "screen_view", "Order Completed", "home"])

times = st.one_of(st.sampled_from(TIMESTAMPS), st.datetimes().map(lambda t: t.isoformat() + "Z"))

contexts = st.fixed_dictionaries(
    {},
    optional={
        "app": st.fixed_dictionaries({}, optional={"version": field(text), "build": hostile}),
        "os": st.fixed_dictionaries({}, optional={"name": field(text), "version": hostile}),
        "device": st.fixed_dictionaries({}, optional={"id": field(text), "model": hostile}),
        "library": st.fixed_dictionaries({}, optional={"name": field(text), "version": hostile}),
        "testRun": field(text),
        "ip": hostile,
    },
)

properties = st.dictionaries(
    plain_text,
    st.sampled_from(range(4)).flatmap(lambda n: hostile if n == 3 else st.integers() | plain_text),
    max_size=5,
)

common = {
    "messageId": field(text),
    "timestamp": field(times),
    "sentAt": field(times),
    "userId": field(text),
    "anonymousId": field(text),
    "context": field(contexts),
}


def native_events() -> st.SearchStrategy:
    """`{"eventName", ...properties}` with envelope fields anywhere."""
    return st.builds(
        lambda fixed, props: {**props, **fixed},
        st.fixed_dictionaries({"eventName": field(names)}, optional=common),
        properties,
    )


def sdk_messages(message_type: str | None) -> st.SearchStrategy:
    """A Segment-format message; with a type when it goes in a batch."""
    optional = {
        **common,
        "event": field(names),
        "name": field(names),
        "properties": field(properties),
        "traits": field(properties),
        "previousId": field(text),
        "groupId": field(text),
    }
    required = {} if message_type else {"type": field(st.sampled_from(SDK_TYPES))}
    return st.fixed_dictionaries(required, optional=optional)


SDK_TYPES = ["track", "identify", "screen", "page", "group", "alias"]


def dumps_raw(value: Any) -> str:
    """JSON text, with RAW-marked strings written as the bare tokens they stand for."""
    text = json.dumps(value)  # ensure_ascii: lone surrogates travel as \udXXX escapes
    return re.sub(r'"\\u001eraw:([^"]*)"', r"\1", text)


ENDPOINTS = ["native", "native batch", *SDK_TYPES, "batch", "import"]


def body_for(kind: str) -> st.SearchStrategy:
    """A request body for one endpoint."""
    if kind == "native":
        return native_events()
    if kind == "native batch":
        return st.lists(native_events(), max_size=5)
    if kind in SDK_TYPES:
        return sdk_messages(kind)
    envelope = st.fixed_dictionaries(
        {}, optional={"context": field(contexts), "sentAt": field(times)}
    )
    return st.builds(
        lambda around, messages: {**around, "batch": messages},
        envelope,
        st.lists(sdk_messages(None), max_size=5),
    )


# Header values as a WSGI server hands them over: the client's UTF-8 bytes read as Latin-1 (some
# names over the 255-character limit), and now and then bytes that are not UTF-8 at all.
test_run_headers = st.one_of(
    st.none(),
    st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_categories=["Cs"]),
        max_size=260,
    ).map(lambda text: text.encode("utf-8").decode("latin-1")),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=10),
)


def answers_of(body: dict) -> list[dict]:
    """The per-event answers of a 2xx body, single or batch."""
    return body["results"] if "results" in body else [body]


def login_owner(flask_app, app_id: int):
    """A dashboard session of the app's owner."""
    with flask_app.app_context():
        user = sign_up("owner@example.com", PASSWORD)
        verify_email_now(user)
        db.session.get(TrackedApp, app_id).owner_id = user.id
        db.session.commit()
    client = flask_app.test_client()
    page = submit(client, "/login", {"email": "owner@example.com", "password": PASSWORD})
    assert page.status_code == 200
    return client
