"""The demo tracking plan shipped with the product."""

import json
from pathlib import Path

import pytest

import app.validation
from app.validation import compile_plan, parse_plan

DEMO_PATH = Path(app.validation.__file__).with_name("demo_plan.json")


@pytest.fixture(scope="module")
def demo():
    return compile_plan(json.loads(DEMO_PATH.read_text(encoding="utf-8")), version=1)


def test_demo_plan_parses_with_expected_events_and_policies():
    plan = parse_plan(json.loads(DEMO_PATH.read_text(encoding="utf-8")))
    assert set(plan.events) == {"user_login", "purchase", "screen_view"}
    assert (plan.unplanned_events, plan.additional_properties) == ("flag", "allow")


def test_user_login(demo):
    assert demo.validate("user_login", {"userId": 123}).status == "valid"
    assert demo.validate("user_login", {"userId": 123, "method": "google"}).status == "valid"
    verdict = demo.validate("user_login", {"userId": "abc"})
    assert verdict.status == "invalid"
    assert [(v["path"], v["rule"], v["expected"], v["actual"]) for v in verdict.violations] == [
        ("/properties/userId", "type", "integer", "abc")
    ]
    method = demo.validate("user_login", {"userId": 1, "method": "facebook"}).violations
    assert [(v["path"], v["rule"]) for v in method] == [("/properties/method", "enum")]


def test_purchase(demo):
    good = {
        "price": 9.99,
        "currency": "EUR",
        "items": [{"sku": "A1", "quantity": 2}, {"sku": "B2"}],
    }
    assert demo.validate("purchase", good).status == "valid"
    bad = {
        "price": -1,
        "currency": "eur",
        "items": [{"sku": "A1", "quantity": 0}, {"quantity": 1}],
    }
    assert [(v["path"], v["rule"]) for v in demo.validate("purchase", bad).violations] == [
        ("/properties/currency", "pattern"),
        ("/properties/items/0/quantity", "minimum"),
        ("/properties/items/1/sku", "required"),
        ("/properties/price", "minimum"),
    ]
    missing = demo.validate("purchase", {}).violations
    assert [v["path"] for v in missing] == ["/properties/currency", "/properties/price"]


def test_screen_view_and_undeclared_properties_allowed(demo):
    assert (
        demo.validate("screen_view", {"screen_name": "home", "referrer": "push"}).status == "valid"
    )
    assert demo.validate("screen_view", {}).violations[0]["path"] == "/properties/screen_name"


def test_unplanned_event_is_flagged_not_blocked(demo):
    verdict = demo.validate("app_crash", {})
    assert (verdict.status, verdict.blocked) == ("unplanned", False)
