"""Plan inference in a real browser: from the plan page to the pick list of observed events (the
junk name carrying markup is listed as text, unticked, and runs nothing; the page breaks no CSP
rule), untick one, add the rest as a draft, publish it, and a price of 19.99 after samples of
10, 11 and -3 is valid. Screenshots: `plan-infer`, `plan-infer-phone`."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from app.services.accounts.users import find_user, sign_up, verify_email_now
from app.services.apps import create_app_record
from app.services.storage.events import store_events
from tests.dashboard.helpers import PASSWORD
from tests.helpers import DEMO_PLAN, queued_message
from tests.support.browser import LiveServer, csp_refusals, log_in, screenshot

EMAIL = "inference@example.com"
JUNK = '<img id="injected" src=x onerror="window.pwned = 1">'
TRAFFIC = [
    {"eventName": "order_placed", "price": 10, "currency": "EUR", "items": [{"sku": "A-1"}]},
    {"eventName": "order_placed", "price": 11, "currency": "EUR", "coupon": None},
    {"eventName": "order_placed", "price": -3, "currency": "USD", "note": "refund " * 40},
    {"eventName": "search", "query": "running shoes", "page": 2},
    {"eventName": "Settings Opened", "section": "privacy"},
    {"eventName": JUNK, "x": "<script>window.pwned = 2</script>"},
    {"eventName": "   ", "blank": True},
]


def test_picking_observed_events_for_a_draft(live_micro_server: LiveServer, page: Page) -> None:
    url, flask_app = live_micro_server.url, live_micro_server.app
    with flask_app.app_context():
        verify_email_now(sign_up(EMAIL, PASSWORD))
        new = create_app_record("Shop", DEMO_PLAN, owner_id=find_user(EMAIL).id)
        app_id, key = new.app.id, new.app.write_key
        messages = [
            queued_message(flask_app, key, {**raw, "messageId": str(uuid.uuid4())})
            for raw in TRAFFIC
        ]
        store_events(messages)
    refused = csp_refusals(page)

    log_in(page, url, EMAIL, PASSWORD)
    page.goto(f"{url}/apps/{app_id}/plan")
    page.get_by_role("link", name="Infer a draft from recent traffic").click()
    page.wait_for_url(f"**/apps/{app_id}/plan/infer")

    rows = page.locator("#pick tbody tr")
    expect(rows).to_have_count(5)
    expect(page.get_by_label("order_placed")).to_be_checked()
    expect(page.get_by_label("search")).to_be_checked()
    expect(page.get_by_label("Settings Opened")).to_be_checked()
    junk_box = page.get_by_label(JUNK)  # the label's text is the markup itself
    expect(junk_box).not_to_be_checked()
    expect(page.locator("#pick")).to_contain_text("<script>window.pwned = 2</script>")
    assert page.locator("#injected").count() == 0 and page.locator("main script").count() == 0
    assert page.evaluate("window.pwned") is None
    expect(rows.filter(has_text="order_placed").locator("td.count")).to_have_text("3")
    screenshot(page, "plan-infer")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "plan-infer-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_label("search").uncheck()
    page.get_by_label("Settings Opened").uncheck()
    page.get_by_role("button", name="Add the ticked events to a draft").click()
    page.wait_for_url(f"**/apps/{app_id}/plan")
    expect(page.locator(".flash")).to_have_text("Draft v2 adds 1: order_placed.")
    page.get_by_role("button", name="Publish v2").click()
    expect(page.locator("#published-version")).to_have_text("2")

    later = {"eventName": "order_placed", "price": 19.99, "currency": "EUR"}
    answer = page.request.post(f"{url}/api/logs/{key}", data=later)
    assert answer.json()["status"] == "valid", answer.json()
    assert refused == []
