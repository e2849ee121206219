"""A test session in a real browser: the app's test runs are listed from the app's menu, a
failed run's report shows each violation once with its count and opens an example, and the
overview draws the last hour per minute with the plan publish marked; a closed run shows its
expectations met or not. Screenshots: `test-runs`, `test-run-grouped`, `overview-minutes`,
`test-runs-expectations`, `test-run-expectations`."""

from __future__ import annotations

import copy
from datetime import timedelta

from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import TrackedApp, TrackingPlan
from app.models.types import utcnow
from app.services.accounts.users import find_user, sign_up, verify_email_now
from app.services.apps import create_app_record
from app.services.plans.versions import save_plan
from app.services.statistics.aggregates import count_new_events
from app.services.statistics.run_expectations import close_run, set_expectations
from app.services.storage.events import store_events
from tests.dashboard.helpers import PASSWORD
from tests.helpers import DEMO_PLAN, queued_message
from tests.support.browser import LiveServer, log_in, screenshot

EMAIL = "qa-runs@example.com"
LOGIN = {"eventName": "user_login", "userId": 7}
SCREEN = {"eventName": "screen_view", "screen_name": "home"}
PURCHASE = {"eventName": "purchase", "price": 9.5, "currency": "EUR", "items": [{"sku": "A1"}]}
# (run, minutes ago it began, its events)
RUNS = [
    ("nightly-2026-12-04", 55, [LOGIN, SCREEN, PURCHASE] * 6),
    ("pr-212-login", 40, [LOGIN] * 4 + [{**LOGIN, "userId": "seven"}] * 5 + [SCREEN] * 3),
    (
        "pr-215-checkout",
        20,
        [PURCHASE] * 4
        + [{**PURCHASE, "currency": "eur"}] * 7
        + [{**PURCHASE, "price": -1}] * 2
        + [{"eventName": "checkout_started"}] * 3
        + [SCREEN] * 5,
    ),
    ("pr-216-checkout", 6, [PURCHASE, LOGIN, SCREEN] * 5),
]


def _session(flask_app) -> int:
    """An owner, their app with plan v1 (published 3 hours ago) and v2 (half an hour ago), runs
    sent over the last hour; returns the app's id."""
    with flask_app.app_context():
        verify_email_now(sign_up(EMAIL, PASSWORD))
        new = create_app_record("Checkout app", DEMO_PLAN, owner_id=find_user(EMAIL).id)
        app_id, key = new.app.id, new.app.write_key
        v2 = copy.deepcopy(DEMO_PLAN)
        v2["events"]["purchase"]["properties"]["coupon"] = {"type": "string"}
        save_plan(db.session.get(TrackedApp, app_id), v2, publish=True)
        for version, minutes_ago in ((1, 180), (2, 30)):  # v1 before the hour shown
            plan = db.session.query(TrackingPlan).filter_by(app_id=app_id, version=version).one()
            plan.published_at = utcnow() - timedelta(minutes=minutes_ago)
        db.session.commit()
        db.session.remove()
    now, messages = utcnow(), []
    for run, began, raws in RUNS:
        for n, raw in enumerate(raws):
            body = {**raw, "n": n, "context": {"testRun": run}}
            message = queued_message(flask_app, key, body)
            message["received_at"] = (now - timedelta(minutes=began, seconds=-10 * n)).isoformat()
            messages.append(message)
    with flask_app.app_context():
        store_events(messages)
        count_new_events()
        db.session.remove()
    return app_id


def test_runs_are_listed_reported_grouped_and_drawn_per_minute(
    live_micro_server: LiveServer, page: Page
) -> None:
    url = live_micro_server.url
    app_id = _session(live_micro_server.app)
    log_in(page, url, EMAIL, PASSWORD)

    page.goto(f"{url}/apps/{app_id}/overview?window=1h")
    page.locator(".app-nav").get_by_role("link", name="Test runs").click()
    rows = page.locator("#test-runs tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("pr-216-checkout")
    expect(rows.nth(0)).to_contain_text("PASSED")
    expect(rows.nth(1)).to_contain_text("pr-215-checkout")
    expect(rows.nth(1)).to_contain_text("FAILED")
    screenshot(page, "test-runs")

    rows.nth(1).get_by_role("link", name="pr-215-checkout").click()
    expect(page.locator("#verdict")).to_have_text("FAILED")
    groups = page.locator("#violation-groups tbody.group")
    expect(groups).to_have_count(3)  # 12 violating events, three distinct violations
    expect(groups.nth(0).locator("td.count")).to_have_text("7×")
    expect(groups.nth(0)).to_contain_text("/properties/currency")
    groups.nth(0).locator("summary").first.click()
    expect(groups.nth(0).locator("details[open] pre")).to_contain_text('"currency": "eur"')
    screenshot(page, "test-run-grouped")

    page.goto(f"{url}/apps/{app_id}/overview?window=1h")
    expect(page.locator("h2").first).to_have_text("Events per minute (66 in 1h)")
    expect(page.locator("#volume-chart line.publish")).to_have_count(1)
    expect(page.locator("#publish-legend")).to_contain_text("v2")
    screenshot(page, "overview-minutes")


GATE_EMAIL = "qa-gate@example.com"  # the live server's database is shared by this module's tests
EXPECTATIONS = {
    "expect": [
        {"event": "user_login"},
        {"event": "purchase", "min": 1, "max": 1, "properties": {"currency": {"const": "EUR"}}},
        {"event": "screen_view"},
    ],
    "forbid": ["checkout_started"],
    "order": ["user_login", "purchase"],
}


def test_a_runs_expectations_show_met_or_not_with_the_events_at_fault(
    live_micro_server: LiveServer, page: Page
) -> None:
    """A closed run with expectations: the ones not met first, each with its offending events
    (folded, opened on a click, linked to the live view), and the events that came too late.
    Screenshots: `test-run-expectations`, `test-runs-expectations`."""
    flask_app, url = live_micro_server.app, live_micro_server.url
    with flask_app.app_context():
        verify_email_now(sign_up(GATE_EMAIL, PASSWORD))
        new = create_app_record("Checkout app", DEMO_PLAN, owner_id=find_user(GATE_EMAIL).id)
        app_id, key = new.app.id, new.app.write_key
        set_expectations(app_id, "pr-230-checkout", EXPECTATIONS)
        set_expectations(app_id, "pr-229-login", {"expect": ["user_login"]})
        db.session.remove()
    usd = {**PURCHASE, "currency": "USD"}
    sent = [
        ("pr-229-login", -60, LOGIN),
        ("pr-230-checkout", -30, LOGIN),
        ("pr-230-checkout", -29, SCREEN),
        ("pr-230-checkout", -28, usd),
        ("pr-230-checkout", -27, PURCHASE),
        ("pr-230-checkout", -26, {"eventName": "checkout_started"}),
    ]
    now = utcnow()
    messages = []
    for run, seconds, raw in sent:
        message = queued_message(flask_app, key, {**raw, "context": {"testRun": run}})
        message["received_at"] = (now + timedelta(seconds=seconds)).isoformat()
        messages.append(message)
    late = queued_message(flask_app, key, {**LOGIN, "context": {"testRun": "pr-230-checkout"}})
    late["received_at"] = (now + timedelta(seconds=30)).isoformat()
    with flask_app.app_context():
        store_events(messages)
        assert close_run(app_id, "pr-230-checkout")
        store_events([late])  # received after the closing
        db.session.remove()

    log_in(page, url, GATE_EMAIL, PASSWORD)
    page.goto(f"{url}/apps/{app_id}/test-runs")
    rows = page.locator("#test-runs tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator(".expectations-met")).to_have_text("not met")
    expect(rows.nth(0).locator(".closed-at")).to_contain_text("closed")
    expect(rows.nth(1).locator(".expectations-met")).to_have_text("met")
    expect(rows.nth(1).locator(".closed-at")).to_have_text("open")
    screenshot(page, "test-runs-expectations")

    rows.nth(0).get_by_role("link", name="pr-230-checkout").click()
    expect(page.locator("#verdict")).to_have_text("FAILED")
    expect(page.locator("#run-state")).to_contain_text("1 event came later")
    # Stored here without passing admission (nothing counted): nothing is said to be on its way.
    expect(page.locator("#settlement")).to_have_text(
        "Settled: nothing of this run is on its way to storage."
    )
    expect(page.locator("#expectations-summary")).to_have_text("4 of 8 met · 4 not met")
    items = page.locator("#expectations li.expectation")
    expect(items).to_have_count(8)
    expect(page.locator("#expectations li.unmet")).to_have_count(4)
    first = items.nth(0)  # not met come first, in the document's order
    expect(first).to_have_attribute("data-id", "count:purchase")
    expect(first).to_contain_text("purchase appears exactly once")
    expect(first).to_contain_text("seen 2 times")
    properties = page.locator('li[data-id="properties:purchase"]')
    expect(properties).to_contain_text("1 of 2 do not match")
    properties.locator("details summary").first.click()
    expect(properties.locator("details[open] pre")).to_contain_text('"currency": "USD"')
    expect(
        properties.get_by_role("link", name="All purchase events of this run")
    ).to_have_attribute("href", f"/apps/{app_id}/live?test_run=pr-230-checkout&event_name=purchase")
    expect(page.locator('li[data-id="order"]')).to_have_class("expectation met")
    expect(page.locator("#late-events")).to_be_visible()
    expect(page.locator("#counts td[data-status=valid]")).to_have_text("4")  # the late one left out
    screenshot(page, "test-run-expectations")
