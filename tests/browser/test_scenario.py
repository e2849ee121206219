"""The dashboard end to end in a real browser, as a new user meets it (issue 6's scenario):
sign up → the code arrives at an SMTP sink → log in → create an app → plan an event in the
editor → post events over HTTP with the app's key → they appear live within 2 s → filter to
invalid → open one with its violated path marked → add a rule in the editor and publish → the
next event is judged by the new version → the test-run page counts right → the overview.
Screenshots of every page go to test-artifacts/screenshots/."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import EventStat
from stack.servers import wait_until
from tests.dashboard.helpers import PASSWORD
from tests.support.browser import screenshot

EMAIL = "qa@example.com"
RUN = "build-812"


def _sign_up_and_confirm(page: Page, url: str, smtp_sink) -> None:
    page.goto(f"{url}/signup")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/verify?email=*")
    [mail] = smtp_sink.wait_for(1)  # sent by the worker from the `emails` queue
    assert mail["To"] == EMAIL
    code = re.search(r"\b(\d{6})\b", mail["Subject"]).group(1)
    page.get_by_label("Code from the e-mail").fill(code)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/apps")


def _log_out_and_in(page: Page, url: str) -> None:
    page.get_by_role("button", name="Log out").click()
    page.goto(f"{url}/login")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    screenshot(page, "login")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/apps")


def _fill_new_row(page: Page, **fields: str | bool) -> None:
    """Fill the first empty row of the event form."""
    paths = page.locator('input[name$="-path"]')
    index = next(i for i in range(paths.count()) if not paths.nth(i).input_value())
    for name, value in fields.items():
        field = page.locator(f'[name="rows-{index}-{name}"]')
        if isinstance(value, bool):
            field.set_checked(value)
        elif name == "type":
            field.select_option(value)
        else:
            field.fill(value)


def _counted(flask_app, app_id: int) -> int:
    with flask_app.app_context():
        return db.session.scalar(
            select(func.coalesce(func.sum(EventStat.count), 0)).where(EventStat.app_id == app_id)
        )


def _post(page: Page, url: str, key: str, **event) -> dict:
    event.setdefault("context", {"testRun": RUN, "app": {"version": "2.3.1"}})
    response = page.request.post(f"{url}/api/logs/{key}", data=event)
    assert response.status == 202
    return response.json()


def test_a_new_user_from_sign_up_to_a_test_run_report(live_micro_server, worker, page, smtp_sink):
    url = live_micro_server.url
    live_micro_server.app.config["SMTP_URL"] = smtp_sink.url
    _sign_up_and_confirm(page, url, smtp_sink)
    _log_out_and_in(page, url)

    # An app, and its first planned event, made in the plan editor's form.
    page.get_by_label("App name").fill("Shop Android")
    page.get_by_role("button", name="Create app").click()
    page.wait_for_url(re.compile(r".*/apps/\d+$"))
    app_path = page.url.removeprefix(url)
    key = page.locator("#write-key").text_content()
    page.get_by_role("link", name="Tracking plan").click()
    page.get_by_role("link", name="Add an event").click()
    page.get_by_label("Event name").fill("purchase")
    _fill_new_row(page, path="price", type="number", required=True, minimum="0")
    _fill_new_row(page, path="items[].sku", type="string", required=True)
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".flash.info")).to_have_text("Version 1 published.")

    # Events posted over HTTP show up in the live stream, newest first, without a reload.
    page.goto(f"{url}{app_path}/live")
    _post(page, url, key, eventName="purchase", price=3, items=[{"sku": "A1"}])
    _post(page, url, key, eventName="purchase", price=-1, items=[{"sku": "A1"}, {}])
    _post(page, url, key, eventName="app_opened")
    rows = page.locator("#events tbody tr")
    expect(rows).to_have_count(3, timeout=2000)
    expect(rows.first.locator("td.col-event .name")).to_have_text("app_opened")
    expect(rows.first.locator(".badge")).to_have_text("unplanned")

    page.get_by_label("Status").select_option("invalid")
    expect(rows).to_have_count(1)
    rows.first.click()
    # The violated values are marked where they are, with their message beside them: the
    # price, and the second item (the one without the required sku).
    marked = page.locator("#detail-payload .violated")
    expect(marked).to_have_count(2)
    assert marked.evaluate_all("spans => spans.map(s => s.dataset.pointer)") == [
        "/price",
        "/items/1",
    ]
    expect(marked.first).to_contain_text('"price": -1,  ← ')
    expect(marked.last).to_contain_text("sku")  # its message names what is missing
    violations = page.locator("#detail-violations")
    expect(violations).to_contain_text("/properties/price")
    expect(violations).to_contain_text("/properties/items/1")
    screenshot(page, "live-invalid")

    # A new rule, added in the editor and published, judges the very next event.
    page.goto(f"{url}{app_path}/plan")
    page.get_by_role("link", name="purchase").click()
    _fill_new_row(page, path="currency", type="string", enum="EUR, USD", required=True)
    screenshot(page, "plan-event")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".flash.info")).to_have_text("Version 2 published.")
    page.get_by_role("link", name="← Tracking plan").click()
    screenshot(page, "plan")
    answer = _post(page, url, key, eventName="purchase", price=-4, items=[{"sku": "A1"}])
    assert answer["status"] == "invalid"
    assert sorted((e["rule"], e["path"], e["plan_version"]) for e in answer["errors"]) == [
        ("minimum", "/properties/price", 2),  # the old rule holds
        ("required", "/properties/currency", 2),  # the new one applies
    ]
    answer = _post(page, url, key, eventName="purchase", price=3, items=[], currency="EUR")
    assert answer["status"] == "valid"

    # The test run's report: 2 valid, 2 invalid, 1 unplanned; failed.
    page.goto(f"{url}{app_path}/live")
    expect(page.locator("#events tbody tr")).to_have_count(5)  # all stored
    page.goto(f"{url}{app_path}/test-runs/{RUN}")
    expect(page.locator("#verdict")).to_have_text("FAILED")
    counts = {
        s: page.locator(f'td[data-status="{s}"]').text_content()
        for s in ("valid", "invalid", "unplanned")
    }
    assert counts == {"valid": "2", "invalid": "2", "unplanned": "1"}
    # Five violations: price and items/1/sku, app_opened unplanned, price and currency; identical
    # ones are one group with their count.
    groups = page.locator("#violation-groups tbody.group td.count").all_text_contents()
    assert sum(int(count.rstrip("×")) for count in groups) == 5
    screenshot(page, "test-run")

    # The overview, once the statistics are recounted (the worker runs the recount).
    page.goto(f"{url}{app_path}/overview")
    page.get_by_role("button", name="Recount now").click()
    app_id = int(app_path.rsplit("/", 1)[1])
    wait_until(lambda: _counted(live_micro_server.app, app_id) == 5, 10, "the recount")
    page.reload()
    health = page.locator("#event-health tbody tr")
    expect(health.first.locator("td").first).to_have_text("app_opened")
    expect(page.locator("#top-violations")).to_contain_text("/properties/items/*/sku")
    screenshot(page, "overview")

    # Every page stays usable at phone width: nothing makes the page itself scroll sideways
    # (wide tables scroll inside their own box).
    page.set_viewport_size({"width": 390, "height": 844})
    for path in (
        "/overview",
        "/overview?window=1h",
        "/live",
        "/plan",
        "/plan/event?name=purchase",
        "/test-runs",
        f"/test-runs/{RUN}",
    ):
        page.goto(f"{url}{app_path}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    screenshot(page, "plan-event-phone")
