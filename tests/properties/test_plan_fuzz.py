"""Arbitrary tracking plans through the plan API and the dashboard's plan editor.

A plan is refused with a clear reason (a JSON 4xx from the API, a message on the page) or saved;
a saved and published plan then judges events without a 5xx, and its pages still render.
"""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import TrackedApp
from tests.dashboard.helpers import csrf_token
from tests.properties.strategies import RAW, dumps_raw, hostile, login_owner, text
from tests.support.profiles import add_app

EXAMPLES = 150

patterns = st.one_of(
    st.sampled_from(
        ["^(a+)+$", "(a|a)*b", "(.*a){12}", "(?=a)a", r"(a)\1", "[", "\\", "^[a-z_]+$", "\ud800"]
    ),
    st.text(max_size=12),
)
schema_keywords = {
    "type": st.one_of(
        st.sampled_from(["string", "integer", "number", "boolean", "object", "array", "null"]),
        st.lists(st.sampled_from(["string", "integer", "null"]), max_size=3),
        hostile,
    ),
    "pattern": patterns,
    "enum": st.lists(hostile, max_size=4),
    "minimum": st.one_of(st.integers(), st.sampled_from(["1e400", "NaN"]).map(lambda t: RAW + t)),
    "maxLength": st.one_of(st.integers(min_value=-5, max_value=10**20), hostile),
    "required": st.one_of(st.lists(text, max_size=3), hostile),
    "$ref": st.sampled_from(["#", "#/definitions/x", "http://127.0.0.1:1/x", "#/events"]),
    "format": st.sampled_from(["date-time", "email", "regex", "uri", "nonsense"]),
    "patternProperties": st.dictionaries(patterns, st.just({"type": "string"}), max_size=2),
    "additionalProperties": st.one_of(st.booleans(), hostile),
}
schemas = st.recursive(
    st.fixed_dictionaries({}, optional=schema_keywords),
    lambda children: st.fixed_dictionaries(
        {}, optional={"properties": st.dictionaries(text, children, max_size=3), "items": children}
    ).flatmap(
        lambda extra: st.fixed_dictionaries({}, optional=schema_keywords).map(
            lambda base: {**base, **extra}
        )
    ),
    max_leaves=6,
)
plans = st.one_of(
    st.fixed_dictionaries(
        {"events": st.one_of(st.dictionaries(text, schemas, max_size=3), hostile)},
        optional={
            "unplanned_events": st.one_of(st.sampled_from(["flag", "block"]), hostile),
            "additional_properties": st.one_of(st.sampled_from(["allow", "flag"]), hostile),
            "types": st.one_of(st.dictionaries(text, schemas, max_size=2), hostile),
        },
    ),
    hostile,
)


def _url_safe(name: str) -> bool:
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def test_no_plan_gets_a_5xx_from_the_api_or_the_editor(full_app):
    shop = add_app(full_app)
    app_id, write_key, read_key = shop.app.id, shop.app.write_key, shop.read_key
    api = full_app.test_client()
    owner = login_owner(full_app, app_id)
    bearer = {"Authorization": f"Bearer {read_key}", "Content-Type": "application/json"}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
        derandomize=True,  # the same examples on every run, so CI is repeatable
    )
    @given(plan=plans, through_editor=st.booleans(), event=hostile)
    # Found by this test once; kept as fixed cases.
    @example(plan={"events": {"e": {"minimum": RAW + "NaN"}}}, through_editor=True, event=1)
    @example(plan={"events": {"e": {"enum": [RAW + "1e400"]}}}, through_editor=True, event=1)
    @example(plan={"events": {"a\x00b": {}}}, through_editor=False, event=1)
    @example(plan={"events": {"\ud800": {}}}, through_editor=True, event=1)
    @example(plan={"events": {"e": {"pattern": "(a)\\1"}}}, through_editor=False, event="aa")
    @example(plan={"events": {"0": {"$ref": "#"}}}, through_editor=False, event=[[]])
    def check(plan, through_editor: bool, event) -> None:
        body = dumps_raw(plan)
        if through_editor:
            token = csrf_token(owner, f"/apps/{app_id}/plan")
            page = owner.post(
                f"/apps/{app_id}/plan",
                data={"body": body, "action": "publish", "csrf_token": token},
            )
            assert page.status_code in (200, 302), page.get_data(as_text=True)[:500]
            saved_now = page.status_code == 302  # a refused plan is shown again with its reason
        else:
            saved = api.post(f"/api/apps/{app_id}/plan?publish=1", data=body, headers=bearer)
            assert saved.status_code < 500, saved.get_data(as_text=True)[:500]
            if saved.status_code >= 400:
                assert set(saved.json) >= {"code", "message"}
            saved_now = saved.status_code == 201
        with full_app.app_context():
            published = db.session.get(TrackedApp, app_id).plan_version
            db.session.remove()
        if published is None:
            return
        # Events of this plan when it was saved; an earlier example's plan judges otherwise.
        names = list(plan["events"]) if saved_now else []
        for name in names[:2] or ["anything"]:
            raw = {"eventName": name, "value": event, "short": "a" * 30 + "b"}
            sent = api.post(
                f"/api/logs/{write_key}",
                data=json.dumps(raw),
                headers={"Content-Type": "application/json"},
            )
            assert sent.status_code < 500, sent.get_data(as_text=True)[:500]
        page = owner.get(f"/apps/{app_id}/plan")
        assert page.status_code == 200, page.get_data(as_text=True)[:500]
        for name in names[:2]:
            if not _url_safe(name):
                continue  # a lone surrogate cannot travel in a URL
            form = owner.get(f"/apps/{app_id}/plan/event", query_string={"name": name})
            assert form.status_code in (200, 404), form.get_data(as_text=True)[:500]

    check()


def test_the_editor_refuses_deeply_nested_json_with_a_message(full_app):
    shop = add_app(full_app)
    owner = login_owner(full_app, shop.app.id)
    token = csrf_token(owner, f"/apps/{shop.app.id}/plan")
    body = '{"events": {"e": ' + "[" * 5_000 + "]" * 5_000 + "}}"
    page = owner.post(f"/apps/{shop.app.id}/plan", data={"body": body, "csrf_token": token})
    assert page.status_code == 200
    assert re.search(r"nest|deep", page.get_data(as_text=True), re.I)
