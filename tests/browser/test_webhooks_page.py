"""Webhooks in a real browser against the micro profile with its in-process worker: the owner
adds a JSON webhook pointing at a local HTTP sink, sees its signing secret once, presses Send
test, and watches the delivery log turn from pending to delivered without reloading (no CSP
refusal on the way); the sink got the signed test. A Slack webhook is shown masked and its
test, answered 404, fails at once. Screenshots: `webhooks-secret`, `webhooks`."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from app.services.accounts.users import find_user, sign_up, verify_email_now
from app.services.apps import create_app_record
from tests.dashboard.helpers import PASSWORD
from tests.helpers import DEMO_PLAN
from tests.services.webhooks.helpers import documented_verify
from tests.support.browser import LiveServer, csp_refusals, log_in, screenshot
from tests.support.http_sink import Reply

EMAIL = "qa-webhooks@example.com"


def test_send_test_turns_pending_into_delivered(
    page: Page, live_micro_server: LiveServer, worker, http_sink
):
    flask_app, url = live_micro_server.app, live_micro_server.url
    with flask_app.app_context():
        verify_email_now(sign_up(EMAIL, PASSWORD))
        app_id = create_app_record("Checkout app", DEMO_PLAN, owner_id=find_user(EMAIL).id).app.id
    refused = csp_refusals(page)
    log_in(page, url, EMAIL, PASSWORD)
    page.goto(f"{url}/apps/{app_id}#webhooks")

    section = page.locator("#webhooks")
    section.get_by_label("Kind").select_option("json")
    section.get_by_label("URL").fill(f"{http_sink.url}/lvd-hook")
    section.get_by_role("button", name="Add webhook").click()
    secret_line = page.locator("#webhook-secret")
    expect(secret_line).to_contain_text("shown only now")
    secret = re.search(r"now\): (\S+)$", secret_line.inner_text()).group(1)
    screenshot(page, "webhooks-secret")

    section.locator("tr.hook").get_by_role("button", name="Send test").click()
    expect(page.locator(".flash", has_text="Test message queued")).to_be_visible()
    row = page.locator("#webhook-log tr.delivery").first
    # The worker sends it and webhooks.js swaps the log in: no reload here.
    expect(row.locator(".badge")).to_have_text("delivered", timeout=15_000)
    expect(row).to_contain_text("test")
    expect(row.locator("td").nth(5)).to_have_text("200")

    # A Slack webhook whose URL Slack no longer knows (it answers 404 no_service): failed at
    # once, with the answer in the log; its URL is shown masked.
    http_sink.answer(Reply(404, body=b"no_service"))
    section.get_by_label("Kind").select_option("slack")
    section.get_by_label("URL").fill(f"{http_sink.url}/services/T000/B000/XXXXXXXX")
    section.get_by_role("button", name="Add webhook").click()
    slack = page.locator("tr.hook", has_text="slack")
    expect(slack.locator("td.url")).to_have_text(f"{http_sink.url}/services/•••")
    slack.get_by_role("button", name="Send test").click()
    row = page.locator("#webhook-log tr.delivery").first
    expect(row.locator(".badge")).to_have_text("failed", timeout=15_000)
    expect(row.locator("td.error")).to_have_text("HTTP 404: no_service")
    screenshot(page, "webhooks")

    request = http_sink.wait_for(2)[0]
    assert request.path == "/lvd-hook"
    assert json.loads(request.body)["type"] == "test"
    assert documented_verify()(secret, request.headers, request.body)
    assert refused == []
