"""In a real browser: the app page's SDK snippets open one at a time with no script (CSP allows
none inline), show this service's URLs, and fit a phone's width."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.services.accounts import users as accounts
from app.services.apps import create_app_record
from tests.dashboard.helpers import PASSWORD
from tests.helpers import DEMO_PLAN
from tests.support.browser import screenshot

HTTPS = "https://127.0.0.1:5443"  # as micro sets it when it serves HTTPS


@pytest.fixture
def mobile_app(live_micro_server):
    config = live_micro_server.app.config
    config["PUBLIC_HTTPS_URL"] = HTTPS
    with live_micro_server.app.app_context():
        user = accounts.sign_up("mobile@example.com", PASSWORD)
        accounts.verify_email_now(user)
        new = create_app_record("Shop iOS", DEMO_PLAN, owner_id=user.id)
    yield new.app.id, new.app.write_key
    config["PUBLIC_HTTPS_URL"] = ""


def test_the_app_page_shows_the_sdk_snippets_at_desktop_and_phone_width(
    live_micro_server, mobile_app, page
):
    app_id, key = mobile_app
    page.goto(f"{live_micro_server.url}/login")
    page.get_by_label("E-mail").fill("mobile@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/apps")
    page.goto(f"{live_micro_server.url}/apps/{app_id}")

    swift, kotlin = page.locator("#sdk-swift"), page.locator("#sdk-kotlin")
    expect(page.locator("details.sdk")).to_have_count(6)
    expect(swift.locator("pre")).to_be_visible()  # the first is open
    expect(swift.locator("pre")).to_contain_text('.apiHost("127.0.0.1:5443/v1")')
    expect(kotlin.locator("pre")).to_be_hidden()
    kotlin.locator("summary").click()
    expect(kotlin.locator("pre")).to_contain_text('apiHost = "10.0.2.2:5443/v1"')
    expect(kotlin.locator("pre")).to_contain_text(f'Analytics("{key}", applicationContext)')
    screenshot(page, "app-sdks")

    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#sdks").scroll_into_view_if_needed()
    # The code scrolls inside its box; the page itself never gets wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "app-sdks-phone")
