"""Arbitrary JSON in every field position of every ingestion endpoint, as an attacker holding
one app's public write key would send it.

Whatever arrives, the answer is 2xx or a JSON 4xx ({"code", "message"}), never a 5xx; and every
event the service accepted is stored and readable afterwards through every read path: the events
API, the live page's JSON, the task status, the test-run report, the overview and the regression
report. The full profile is used because PostgreSQL refuses more than SQLite does (NUL, years
outside its range).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import TrackedApp
from app.services.accounts.users import sign_up, verify_email_now
from app.services.statistics.aggregates import recount
from app.tasks.events import drain_events
from tests.conftest import add_app
from tests.helpers import DEMO_PLAN
from tests.web.helpers import PASSWORD, submit

# Examples per endpoint; the note of issue 13 quotes these.
EXAMPLES = 120
RAW = "\x1eraw:"  # a string standing for a JSON token json.dumps cannot write (see _dumps)

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


def _dumps(value: Any) -> str:
    """JSON text, with RAW-marked strings written as the bare tokens they stand for."""
    text = json.dumps(value)  # ensure_ascii: lone surrogates travel as \udXXX escapes
    return re.sub(r'"\\u001eraw:([^"]*)"', r"\1", text)


ENDPOINTS = ["native", "native batch", *SDK_TYPES, "batch", "import"]


def _body(kind: str) -> st.SearchStrategy:
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


def _answers(body: dict) -> list[dict]:
    """The per-event answers of a 2xx body, single or batch."""
    return body["results"] if "results" in body else [body]


def _login(flask_app, app_id: int):
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


def test_no_input_gets_a_5xx_and_every_accepted_event_reads_back(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    app_id, write_key, read_key = shop.app.id, shop.app.write_key, shop.read_key
    api = full_app.test_client()
    owner = _login(full_app, app_id)
    bearer = {"Authorization": f"Bearer {read_key}"}
    basic = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    tried: dict[str, int] = {}
    outcomes: dict[str, int] = {"2xx": 0, "4xx": 0, "events stored": 0}

    @settings(
        max_examples=EXAMPLES * len(ENDPOINTS),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
        derandomize=True,  # the same examples on every run, so CI is repeatable
    )
    @given(
        request=st.sampled_from(ENDPOINTS).flatmap(lambda k: st.tuples(st.just(k), _body(k))),
        test_run=test_run_headers,
    )
    def check(request: tuple[str, Any], test_run: str | None) -> None:
        kind, body = request
        tried[kind] = tried.get(kind, 0) + 1
        headers = {"Content-Type": "application/json"}
        if test_run is not None:
            headers["X-Test-Run"] = test_run
        if kind == "native":
            path = f"/api/logs/{write_key}"
        elif kind == "native batch":
            path = f"/api/logs/{write_key}/batch"
        else:
            path, headers["Authorization"] = f"/v1/{kind}", basic
        response = api.post(path, data=_dumps(body).encode(), headers=headers)
        assert response.status_code < 500, (path, response.get_data(as_text=True)[:500])
        answer = response.get_json(silent=True)
        assert isinstance(answer, dict), response.get_data()[:200]
        if response.status_code >= 400:
            assert set(answer) >= {"code", "message"}, answer
            outcomes["4xx"] += 1
            outcomes[answer["code"]] = outcomes.get(answer["code"], 0) + 1
            return
        outcomes["2xx"] += 1
        accepted = [
            a["task_id"]
            for a in _answers(answer)
            if a["status"] not in ("rejected", "duplicate") and not a.get("blocked")
        ]
        with full_app.app_context():
            drain_events.apply()
            db.session.remove()
        _reads_answer(accepted)
        outcomes["events stored"] += len(accepted)

    def _reads_answer(accepted: list[str]) -> None:
        for task_id in accepted:
            state = api.get(f"/api/tasks/{task_id}", headers=bearer)
            assert state.status_code == 200, state.get_data(as_text=True)[:500]
            assert state.json["state"] == "stored", state.json
        events = api.get(f"/api/apps/{app_id}/events?limit=200", headers=bearer)
        assert events.status_code == 200, events.get_data(as_text=True)[:500]
        live = owner.get(f"/apps/{app_id}/events.json")
        assert live.status_code == 200, live.get_data(as_text=True)[:500]
        for event in events.json["events"][:20]:
            if event["test_run"]:
                run = api.get(f"/api/test-runs/{quote(event['test_run'], safe='')}", headers=bearer)
                assert run.status_code == 200, run.get_data(as_text=True)[:500]
        with full_app.app_context():
            recount(app_id, 24)
            db.session.remove()
        overview = owner.get(f"/apps/{app_id}/overview")
        assert overview.status_code == 200, overview.get_data(as_text=True)[:500]
        versions = {e["app_version"] for e in events.json["events"] if e["app_version"]}
        for version in list(versions)[:3]:
            report = api.get(
                f"/api/apps/{app_id}/regressions",
                query_string={"base": version, "head": "1.0"},
                headers=bearer,
            )
            assert report.status_code in (200, 400, 404), report.get_data(as_text=True)[:500]
            assert set(report.json) >= ({"code", "message"} if report.status_code >= 400 else set())

    check()
    print(f"\nexamples per endpoint: {json.dumps(tried, sort_keys=True)}; outcomes: {outcomes}")
    # Enough of each, and enough accepted, that the read-back half means something.
    assert all(tried.get(kind, 0) >= EXAMPLES // 2 for kind in ENDPOINTS), tried
    assert outcomes["2xx"] >= len(ENDPOINTS) * EXAMPLES // 6, outcomes
