"""The plan editor's checks in a real browser: a draft's lint findings and its changes against
the published version, the breaking one first, above the Publish button; no CSP refusal; the
table fits a desktop's and a phone's width, even with a 255-character event name (shown cut at
100 characters). Screenshots: `plan-checks`, `plan-checks-phone`."""

from __future__ import annotations

import copy

from playwright.sync_api import Page, expect

from app.services.accounts.users import find_user, sign_up, verify_email_now
from app.services.apps import create_app_record
from app.services.plans import versions as plans
from tests.dashboard.helpers import PASSWORD
from tests.helpers import DEMO_PLAN
from tests.support.browser import LiveServer, csp_refusals, log_in, screenshot

EMAIL = "checks@example.com"
LONG = "checkout_" + "x" * 246  # 255 characters, no space to break at


def draft_of(published: dict) -> dict:
    """A draft a reviewer should stop: a removed event, a new required property, a name that
    differs from another only by case, and a few additive changes."""
    draft = copy.deepcopy(published)
    draft["lint"] = {"event_names": "snake_case", "property_names": "snake_case"}
    login = draft["events"]["user_login"]
    login["properties"]["method"]["enum"].append("github")
    login["properties"]["plan"] = {"type": "string", "enum": ["free", "pro", "pro"]}
    login["required"].append("plan")
    draft["events"]["Purchase"] = draft["events"].pop("purchase")
    draft["events"]["signup_started"] = {"description": "The signup form opened.", "type": "object"}
    draft["events"][LONG] = {"type": "object"}  # no description: a finding with the long name
    return draft


def test_a_drafts_checks_on_the_plan_page(live_micro_server: LiveServer, page: Page) -> None:
    url, flask_app = live_micro_server.url, live_micro_server.app
    with flask_app.app_context():
        verify_email_now(sign_up(EMAIL, PASSWORD))
        new = create_app_record("Shop", DEMO_PLAN, owner_id=find_user(EMAIL).id)
        app_id = new.app.id
        plans.save_plan(new.app, draft_of(DEMO_PLAN), publish=False)
    refused = csp_refusals(page)

    log_in(page, url, EMAIL, PASSWORD)
    page.goto(f"{url}/apps/{app_id}/plan")

    checks = page.locator("#plan-checks")
    expect(checks.get_by_role("heading", name="Checks of draft v2")).to_be_visible()
    changes = page.locator("#plan-changes tbody tr")
    expect(changes.first).to_have_class("breaking")
    expect(page.locator("#plan-changes tr.breaking")).to_have_count(2)
    expect(page.locator("#diff-summary")).to_contain_text("2 breaking")
    errors = page.locator("#lint-findings tr.error")
    expect(errors.filter(has_text="Purchase")).to_have_count(1)  # not snake_case
    expect(errors.filter(has_text='lists "pro" twice')).to_have_count(1)
    expect(errors.filter(has_text="userId")).to_have_count(1)
    assert (
        checks.bounding_box()["y"]
        < page.get_by_role("button", name="Publish", exact=True).bounding_box()["y"]
    )
    warnings = page.locator("#lint-findings tr.warning")
    expect(warnings.filter(has_text=LONG[:100] + "…")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    screenshot(page, "plan-checks")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "plan-checks-phone")
    assert refused == []
