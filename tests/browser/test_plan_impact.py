"""The impact preview in a real browser: on the plan page of an app with a draft, preview the
draft on the last 7 days; the preview's page shows the queued job's progress (no worker runs
here), and once the test runs the job the page, long-polling the jobs API with the session,
shows its numbers per event name, rules and examples that link to the events; the plan page
then lists the preview; no CSP rule is broken. Screenshots: `plan-impact-form`,
`plan-impact-progress`, `plan-impact`, `plan-impact-phone`, `plan-impact-previews`."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import TrackedApp
from app.services.accounts.users import find_user, sign_up, verify_email_now
from app.services.apps import create_app_record
from app.services.jobs import revalidation, work
from app.services.plans import versions as plans
from app.services.storage.events import store_events
from app.tasks.jobs import run_slice
from tests.dashboard.helpers import PASSWORD
from tests.helpers import DEMO_PLAN, queued_message
from tests.services.jobs.helpers import draft_plan, raw_event, run_to_the_end
from tests.support.browser import LiveServer, csp_refusals, log_in, screenshot

EMAIL = "impact@example.com"


def test_previewing_a_drafts_impact(
    live_micro_server: LiveServer, page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, flask_app = live_micro_server.url, live_micro_server.app
    with flask_app.app_context():
        verify_email_now(sign_up(EMAIL, PASSWORD))
        new = create_app_record("Shop", DEMO_PLAN, owner_id=find_user(EMAIL).id)
        app_id, key = new.app.id, new.app.write_key
        plans.save_plan(db.session.get(TrackedApp, app_id), draft_plan(), publish=False)
        store_events([queued_message(flask_app, key, raw_event(i)) for i in range(120)])
        db.session.remove()
    refused = csp_refusals(page)

    log_in(page, url, EMAIL, PASSWORD)
    page.goto(f"{url}/apps/{app_id}/plan")
    expect(page.locator("#impact h2")).to_have_text("Impact of draft v2")
    page.get_by_label("Preview impact on the last").fill("7")
    screenshot(page, "plan-impact-form")
    page.get_by_role("button", name="Preview impact").click()
    page.wait_for_url(re.compile(rf".*/apps/{app_id}/plan/impact/\d+$"))
    job_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#impact-state")).to_have_text("Waiting for a worker")
    expect(page.locator("#impact-job h2")).to_have_text(
        "Draft v2 against the events of the last 7 days"
    )
    # One batch of 50: the page shows the progress the job saved.
    monkeypatch.setattr(revalidation, "BATCH_SIZE", 50)
    with flask_app.app_context():
        assert run_slice(job_id, batches=1) == work.AGAIN
        db.session.remove()
    expect(page.locator("#impact-done")).to_have_text("50")
    expect(page.locator("#impact-state")).to_have_text("Judging")
    expect(page.locator("#impact-total")).to_have_text("120")
    screenshot(page, "plan-impact-progress")

    job = run_to_the_end(flask_app, job_id)  # while the page waits on the job
    assert job["state"] == "done" and job["done"] == 120
    rows = page.locator("#impact-events tbody tr")
    expect(rows).to_have_count(len(job["result"]["by_event"]))
    expect(page.locator("#total-events")).to_have_text("120")
    changed = job["done"] - job["result"]["unchanged"]
    expect(page.locator("#total-changed")).to_have_text(str(changed))
    for row in job["result"]["by_event"]:
        shown = rows.filter(has=page.locator(f'td a:text-is("{row["event_name"]}")'))
        for column in ("events", "changed", "newly-invalid", "newly-valid", "newly-unplanned"):
            value = str(row[column.replace("-", "_")])
            expect(shown.locator(f"td.{column}")).to_have_text(value)
    # The mix has every kind of change: rules gained and lost, and examples of each.
    login = next(r for r in job["result"]["by_event"] if r["event_name"] == "user_login")
    assert login["newly_valid"] and login["rules"] and len(login["examples"]) == 3
    card = page.locator(".impact-event").filter(has=page.locator('h3:text-is("user_login")'))
    expect(card.locator(".impact-rules tbody tr")).to_have_count(len(login["rules"]))
    links = card.locator(".impact-examples > li > a")
    expect(links).to_have_count(3)
    expect(links.first).to_have_text(f"event {login['examples'][0]['id']}")
    event = page.request.get(url + links.first.get_attribute("href")).json()["events"][0]
    assert event["id"] == login["examples"][0]["id"] and event["event_name"] == "user_login"
    screenshot(page, "plan-impact")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "plan-impact-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Back on the plan page, the draft's preview is listed.
    page.get_by_role("link", name="← Tracking plan").click()
    expect(page.locator("#impact-previews a")).to_contain_text("7 days (done)")
    screenshot(page, "plan-impact-previews")
    assert refused == []
