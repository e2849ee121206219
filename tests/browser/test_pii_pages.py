"""In a real browser: an event carrying personal data shows its `pii` findings with the values
masked on the live page's detail (payload and violations) and counts on the overview; the raw
values appear nowhere on either page (docs/pii.md)."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from app.services.accounts.users import find_user, sign_up, verify_email_now
from app.services.apps import create_app_record
from app.services.statistics.aggregates import count_new_events
from app.services.storage.events import store_events
from tests.dashboard.helpers import PASSWORD
from tests.helpers import DEMO_PLAN, queued_message
from tests.support.browser import LiveServer, log_in, screenshot

EMAIL = "pii-pages@example.com"
LEAKS = ("ann.lee@example.com", "+44 20 7946 0958", "4242 4242 4242 4242")


@pytest.fixture(scope="module")
def app_id(live_micro_server: LiveServer) -> int:
    flask_app = live_micro_server.app
    with flask_app.app_context():
        verify_email_now(sign_up(EMAIL, PASSWORD))
        new = create_app_record("Leaky app", DEMO_PLAN, owner_id=find_user(EMAIL).id)
        raws = [
            {"eventName": "user_login", "userId": 7, "note": f"mail {LEAKS[0]} or {LEAKS[1]}"},
            {"eventName": "purchase", "price": 9.5, "currency": "EUR", "card": LEAKS[2]},
        ]
        messages = [
            queued_message(flask_app, new.app.write_key, {**raw, "messageId": str(uuid.uuid4())})
            for raw in raws
        ]
        store_events(messages)
        count_new_events()
        return new.app.id


def assert_no_raw(page: Page) -> None:
    html = page.content()
    for raw in LEAKS:
        assert raw not in html, raw


def test_the_live_detail_shows_pii_findings_masked(page: Page, live_micro_server, app_id):
    log_in(page, live_micro_server.url, EMAIL, PASSWORD)
    page.goto(f"{live_micro_server.url}/apps/{app_id}/live")
    rows = page.locator("#events tbody tr[data-id]")
    expect(rows).to_have_count(2)
    rows.filter(has_text="user_login").click()
    detail = page.locator("#detail")
    # A warning under the default policy: listed as one, the event still valid.
    expect(page.locator("#detail-violations-title")).to_have_text("Warnings (1)")
    expect(page.locator("#detail-violations li.warning")).to_contain_text("a•••@e•••.com")
    expect(detail.locator(".violated.warning")).to_contain_text("a•••@e•••.com")
    assert_no_raw(page)
    screenshot(page, "pii-live")
    page.goto(f"{live_micro_server.url}/apps/{app_id}/overview")
    expect(page.locator("body")).to_contain_text("PII findings")
    assert_no_raw(page)
    screenshot(page, "pii-overview")
