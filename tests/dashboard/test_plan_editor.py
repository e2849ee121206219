"""The plan editor's forms: an event's properties as rows (types, required, null, allowed values,
pattern, min/max, nested objects and arrays) become a new plan version whose verdicts follow;
bad rows are refused with their reason; a draft can be inferred from recent traffic."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import TrackedApp, TrackingPlan
from app.services.plans.versions import save_plan
from app.services.storage.events import store_events
from tests.dashboard.helpers import csrf_token, form_fields, sign_up_and_verify, submit
from tests.helpers import DEMO_PLAN, queued_message

ROW_FIELDS = ("path", "enum", "pattern", "minimum", "maximum", "description")


@pytest.fixture
def owner(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "editor@example.com")
    page = submit(client, "/apps", {"name": "Shop"}).get_data(as_text=True)
    app_id = int(re.search(r'action="/apps/(\d+)/rotate-write-key"', page).group(1))
    key = re.search(r'id="write-key">([0-9a-f]+)<', page).group(1)
    return client, app_id, key


def _post_event(client, app_id, name, rows, action="publish", old_name=None):
    """Post the event form as a browser would: one set of fields per row."""
    url = f"/apps/{app_id}/plan/event" + (f"?name={old_name}" if old_name else "")
    data = {"name": name, "action": action, "csrf_token": csrf_token(client, url)}
    for index, row in enumerate(rows):
        data[f"rows-{index}-type"] = row.get("type", "string")  # a select's first option
        for field in ROW_FIELDS:
            if row.get(field) is not None:
                data[f"rows-{index}-{field}"] = str(row[field])
        for flag in ("required", "nullable", "pii", "remove"):
            if row.get(flag):
                data[f"rows-{index}-{flag}"] = "y"
    return client.post(url, data=data, follow_redirects=True)


def _latest(flask_app, app_id) -> TrackingPlan:
    with flask_app.app_context():
        return db.session.scalars(
            select(TrackingPlan)
            .where(TrackingPlan.app_id == app_id)
            .order_by(TrackingPlan.version.desc())
        ).first()


def _verdict(client, key, event):
    return client.post(f"/api/logs/{key}", json=event).json


def test_the_personal_data_box_allows_it_in_that_property(micro_app, owner):
    client, app_id, key = owner
    rows = [{"path": "email", "type": "string", "pii": True}, {"path": "note", "type": "string"}]
    assert "Version 1 published" in _post_event(client, app_id, "signup", rows).get_data(True)
    schema = _latest(micro_app, app_id).body["events"]["signup"]
    assert schema["properties"]["email"] == {"type": "string", "pii": True}
    event = {"eventName": "signup", "email": "ann@example.com", "note": "ann@example.com"}
    answer = _verdict(client, key, event)
    assert [(e["path"], e["rule"]) for e in answer["errors"]] == [("/properties/note", "pii")]
    page = client.get(f"/apps/{app_id}/plan/event?name=signup").get_data(as_text=True)
    assert re.search(r'name="rows-0-pii" type="checkbox" value="y" checked', page) or re.search(
        r'checked[^>]*name="rows-0-pii"', page
    ), "the box is shown ticked again"


def test_an_event_built_from_rows_validates_the_next_events(micro_app, owner):
    client, app_id, key = owner
    rows = [
        {"path": "price", "type": "number", "required": True, "minimum": "0"},
        {"path": "currency", "type": "string", "enum": "EUR, USD"},
        {"path": "coupon", "type": "string", "nullable": True, "pattern": "^[A-Z]{4}$"},
        {"path": "items", "type": "array", "required": True, "minimum": "1"},
        {"path": "items[].sku", "type": "string", "required": True, "maximum": "8"},
        {"path": "items[].qty", "type": "integer", "minimum": "1", "maximum": "99"},
        {"path": "shipping.city", "type": "string", "required": True},
    ]
    page = _post_event(client, app_id, "purchase", rows).get_data(as_text=True)
    assert "Version 1 published" in page
    schema = _latest(micro_app, app_id).body["events"]["purchase"]
    assert schema["required"] == ["items", "price"]
    assert schema["properties"]["items"] == {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "properties": {
                "sku": {"type": "string", "maxLength": 8},
                "qty": {"type": "integer", "minimum": 1, "maximum": 99},
            },
            "required": ["sku"],
        },
    }
    assert schema["properties"]["shipping"]["required"] == ["city"]  # an implied parent
    assert schema["properties"]["coupon"]["type"] == ["string", "null"]

    good = {
        "eventName": "purchase",
        "price": 9.5,
        "currency": "EUR",
        "coupon": None,
        "items": [{"sku": "AB12", "qty": 2}],
        "shipping": {"city": "Lyon"},
    }
    assert _verdict(client, key, good)["status"] == "valid"
    broken = {**good, "currency": "GBP", "items": [{"sku": "much-too-long", "qty": 0}]}
    answer = _verdict(client, key, {**broken, "messageId": "b1"})
    assert answer["status"] == "invalid"
    assert {(e["path"], e["rule"]) for e in answer["errors"]} == {
        ("/properties/currency", "enum"),
        ("/properties/items/0/sku", "maxLength"),
        ("/properties/items/0/qty", "minimum"),
    }


def test_the_form_shows_an_event_as_rows_and_saving_it_unchanged_keeps_the_schema(micro_app, owner):
    client, app_id, _ = owner
    with micro_app.app_context():
        save_plan(db.session.get(TrackedApp, app_id), DEMO_PLAN, publish=True)
    for name, schema in DEMO_PLAN["events"].items():
        page = client.get(f"/apps/{app_id}/plan/event?name={name}").get_data(as_text=True)
        if 'class="flash error"' in page:
            continue  # a schema the form cannot show (checked below)
        shown = re.findall(r'name="rows-\d+-path"[^>]*value="([^"]*)"', page)
        assert set(schema.get("properties", {})) <= set(shown)
        # Re-submit exactly what the page shows: the schema must come back the same.
        form = {**form_fields(page, "event-form"), "action": "draft"}
        answer = client.post(f"/apps/{app_id}/plan/event?name={name}", data=form)
        assert answer.status_code == 302
        saved = _latest(micro_app, app_id).body["events"][name]
        assert _normalised(saved) == _normalised(schema), name


def _normalised(schema):
    """A schema with its required lists sorted (the order of `required` means nothing)."""
    if isinstance(schema, dict):
        return {k: sorted(v) if k == "required" else _normalised(v) for k, v in schema.items()}
    return schema


def test_rename_remove_a_row_and_delete_an_event(micro_app, owner):
    client, app_id, _ = owner
    _post_event(client, app_id, "signup", [{"path": "plan", "type": "string"}, {"path": "age"}])
    _post_event(
        client,
        app_id,
        "sign_up",
        [{"path": "plan", "type": "string"}, {"path": "age", "remove": True}],
        old_name="signup",
    )
    assert _latest(micro_app, app_id).body["events"] == {
        "sign_up": {"type": "object", "properties": {"plan": {"type": "string"}}}
    }
    page = _post_event(client, app_id, "sign_up", [], action="delete", old_name="sign_up")
    assert "Version 3 saved as a draft" in page.get_data(as_text=True)  # publish it to apply
    assert _latest(micro_app, app_id).body["events"] == {}


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([{"path": "a..b"}], "is not a property path"),
        ([{"path": "n", "type": "number", "minimum": "5", "maximum": "1"}], "min is greater"),
        ([{"path": "n", "type": "number", "minimum": "lots"}], "is not a number"),
        ([{"path": "n", "type": "number", "maximum": "inf"}], "finite"),
        ([{"path": "s", "type": "string", "minimum": "1.5"}], "whole number"),
        ([{"path": "b", "type": "boolean", "maximum": "3"}], "min and max apply"),
        ([{"path": "i", "type": "integer", "pattern": "x"}], "pattern applies to strings"),
        ([{"path": "s", "pattern": "(unclosed"}], "not a regular expression"),
        ([{"path": "s", "pattern": "(a)\\1"}], "uses a backreference, a construct the linear"),
        ([{"path": "s", "pattern": "^(?=a)"}], "uses lookahead, a construct the linear-time"),
        ([{"path": "i", "type": "integer", "enum": "1, two"}], "not all of type integer"),
        ([{"path": "s", "enum": "[1, "}], "not a JSON array"),
        ([{"path": "s"}, {"path": "s.x"}], "its parent is of type string"),
        ([{"path": "s"}, {"path": "s", "type": "integer"}], "two rows"),
        ([{"path": "x", "type": "decimal"}], "Not a valid choice"),
    ],
)
def test_bad_rows_are_refused_with_their_reason_and_nothing_is_saved(
    micro_app, owner, rows, reason
):
    client, app_id, _ = owner
    response = _post_event(client, app_id, "checkout", rows)
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert reason in page
    assert _latest(micro_app, app_id) is None


def test_a_taken_name_is_refused(micro_app, owner):
    client, app_id, _ = owner
    _post_event(client, app_id, "a", [])
    _post_event(client, app_id, "b", [])
    page = _post_event(client, app_id, "a", [], old_name="b").get_data(as_text=True)
    assert "already has an event" in html.unescape(page)


def test_a_schema_the_form_cannot_show_points_to_the_raw_json(micro_app, owner):
    client, app_id, _ = owner
    plan = {"events": {"odd": {"type": "object", "oneOf": [{"required": ["a"]}]}}}
    with micro_app.app_context():
        save_plan(db.session.get(TrackedApp, app_id), plan, publish=True)
    page = client.get(f"/apps/{app_id}/plan/event?name=odd").get_data(as_text=True)
    assert "cannot be shown as a form (the event uses oneOf)" in page
    assert 'id="event-form"' not in page
    assert client.get(f"/apps/{app_id}/plan/event?name=missing").status_code == 404


def test_a_draft_inferred_from_traffic_adds_the_unplanned_events(micro_app, owner):
    client, app_id, key = owner
    with micro_app.app_context():
        save_plan(db.session.get(TrackedApp, app_id), DEMO_PLAN, publish=True)
    raws = [
        {"eventName": "search", "query": "shoes", "page": 1, "filters": {"size": 42}},
        {"eventName": "search", "query": "hats", "page": 2, "filters": {"size": 40.5}},
        {"eventName": "search", "query": "caps", "filters": {}},
        {"eventName": "user_login", "userId": "not planned this way"},
    ]
    with micro_app.app_context():
        store_events([queued_message(micro_app, key, raw) for raw in raws])
    infer_page = f"/apps/{app_id}/plan/infer"
    page = submit(client, infer_page, {"event": json.dumps("search")})
    text = page.get_data(as_text=True)
    assert "adds 1: search" in text
    draft = _latest(micro_app, app_id)
    assert draft.status == "draft"
    assert draft.body["events"]["user_login"] == DEMO_PLAN["events"]["user_login"]  # kept
    search = draft.body["events"]["search"]
    assert "required" not in search  # three samples are too few to tell
    assert search["properties"]["page"]["type"] == "number"  # 1 and 2 say nothing against 2.5
    assert search["properties"]["filters"]["properties"]["size"]["type"] == "number"
    # The draft changes nothing until it is published; then the search events are planned.
    assert _verdict(client, key, {"eventName": "search", "query": "x"})["status"] == "unplanned"
    # The editor now works on the draft, and the inference page has nothing left to offer.
    assert "in draft v2" in client.get(f"/apps/{app_id}/plan").get_data(as_text=True)
    assert "Nothing to add" in client.get(infer_page).get_data(as_text=True)
