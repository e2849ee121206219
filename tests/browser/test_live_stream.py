"""In a real browser: events posted over HTTP with the app's key appear in the live stream
within 2 s without a reload; filtering to invalid; a row opens its payload with the violated
property marked; a payload carrying markup renders as text and runs nothing."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import App
from app.services import accounts
from app.services.apps import create_app_record
from tests.browser.conftest import screenshot
from tests.helpers import DEMO_PLAN
from tests.web.helpers import PASSWORD

XSS = ["<script>window.pwned = 1</script>", '"><img src=x onerror="window.pwned = 2">']


@pytest.fixture
def shop(live_micro_server):
    with live_micro_server.app.app_context():
        user = accounts.sign_up("viewer@example.com", PASSWORD)
        accounts.verify_email_now(user)
        new = create_app_record("Shop", DEMO_PLAN, owner_id=user.id)
        return new.app.id, new.app.write_key


def _log_in(page, url: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("E-mail").fill("viewer@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/apps")


def test_live_stream_shows_new_events_filters_and_opens_violations(
    live_micro_server, worker, shop, page
):
    url = live_micro_server.url
    app_id, key = shop
    _log_in(page, url)
    page.goto(f"{url}/apps/{app_id}/live")
    post = page.request.post
    assert post(f"{url}/api/logs/{key}", data={"eventName": "user_login", "userId": 7}).ok
    assert post(f"{url}/api/logs/{key}", data={"eventName": "user_login", "userId": "x"}).ok
    hostile = {"eventName": "user_login", "userId": 9, "method": XSS[0], "note": XSS[1]}
    assert post(f"{url}/api/logs/{key}", data=hostile).ok
    rows = page.locator("#events tbody tr")
    rows.nth(2).wait_for(timeout=2000)  # within 2 s of posting, no reload
    assert rows.count() == 3
    assert page.locator("#events tbody tr").first.locator("td").nth(1).text_content() == (
        "user_login"
    )
    screenshot(page, "live")

    page.get_by_label("Status").select_option("invalid")
    expect(page.locator("#events tbody tr")).to_have_count(2)
    statuses = page.locator("#events tbody tr td.badge").all_text_contents()
    assert statuses == ["invalid", "invalid"]  # userId "x", and the hostile one's method
    page.locator("#events tbody tr", has_text="invalid").last.click()
    marked = page.locator("#detail-payload .violated").all_text_contents()
    assert any('"userId"' in line for line in marked)
    assert "/properties/userId" in page.locator("#detail-violations").text_content()
    screenshot(page, "live-detail")

    # The hostile payload: shown as text, and nothing ran.
    page.get_by_label("Status").select_option("")
    expect(page.locator("#events tbody tr")).to_have_count(3)
    page.locator("#events tbody tr").first.click()
    payload = page.locator("#detail-payload").text_content()
    assert json.dumps(XSS[0])[1:-1] in payload or XSS[0] in payload
    assert page.evaluate("window.pwned") is None
    assert page.locator("#detail-payload img, #detail-payload script").count() == 0
    with live_micro_server.app.app_context():
        assert db.session.scalars(select(App.id)).all() == [app_id]
