"""Long values an app can send (a 255-character event name without spaces, a 255-character
X-Test-Run, 200-character app version and device id) must not break the layout: at desktop
and phone width no page is wider than the window and no table row grows tall. Also at phone
width the run report's Path and Problem and the overview's chart labels stay readable, and
every page's icon loads (no 404 in the console). Screenshots: `long-*`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from app.services.accounts.users import find_user, sign_up, verify_email_now
from app.services.apps import create_app_record
from app.services.statistics.aggregates import count_new_events
from app.services.storage.events import store_events
from tests.dashboard.helpers import PASSWORD
from tests.helpers import DEMO_PLAN, queued_message
from tests.support.browser import LiveServer, screenshot

EMAIL = "long-values@example.com"
NAME = "checkout_" + "x" * 246  # 255 characters, no space to break at
RUN = "nightly-" + "r" * 247
VERSION = "1." + "9" * 198
DEVICE = "device-" + "d" * 193
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
ROW_LIMIT = 200  # px: a row two characters wide per line was 2,897 px tall


@pytest.fixture(scope="module")
def app_id(live_micro_server: LiveServer) -> int:
    """An owner's app with events of long names in a long-named run, one of them invalid."""
    flask_app = live_micro_server.app
    with flask_app.app_context():
        verify_email_now(sign_up(EMAIL, PASSWORD))
        new = create_app_record("Long values", DEMO_PLAN, owner_id=find_user(EMAIL).id)
        app_id, key = new.app.id, new.app.write_key
        context = {"testRun": RUN, "app": {"version": VERSION}, "device": {"id": DEVICE}}
        raws = [
            {"eventName": NAME, "plan": "none"},
            {"eventName": "user_login", "userId": "seven-" + "7" * 200},
            {"eventName": "purchase", "price": 9.5, "currency": "eur", "items": [{"sku": "A"}]},
        ]
        store_events(
            [
                queued_message(
                    flask_app, key, {**raw, "messageId": str(uuid.uuid4()), "context": context}
                )
                for raw in raws
            ]
        )
        count_new_events()
    return app_id


@pytest.fixture(params=list(SIZES))
def sized(request, browser: Browser, live_micro_server: LiveServer) -> Iterator[Page]:
    """A signed-in page at desktop or phone size, failing on any console error."""
    width, height = SIZES[request.param]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_micro_server.url}/login")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/apps")
    page.size_name = request.param  # for screenshot names
    yield page
    context.close()
    assert errors == [], errors


def assert_fits(page: Page, rows: str) -> None:
    """The page is no wider than the window and no row of `rows` is taller than ROW_LIMIT."""
    width = page.evaluate("document.scrollingElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"page {width} px wide in a {viewport} px window"
    heights = [box["height"] for box in (r.bounding_box() for r in page.locator(rows).all())]
    assert heights and max(heights) < ROW_LIMIT, heights


def test_the_live_page_cuts_long_values(sized: Page, live_micro_server, app_id) -> None:
    page = sized
    page.goto(f"{live_micro_server.url}/apps/{app_id}/live")
    rows = page.locator("#events tbody tr[data-id]")
    expect(rows).to_have_count(3)
    name = rows.filter(has_text=NAME[:20]).locator(".name")
    expect(name).to_have_attribute("title", NAME)  # the whole value on hover
    assert_fits(page, "#events tbody tr[data-id]")
    header = page.locator("#events thead").bounding_box()
    hint = page.locator("#side-hint")
    if hint.is_visible():  # beside the table, not over it
        assert hint.bounding_box()["x"] >= header["x"] + header["width"]
    rows.filter(has_text=NAME[:20]).click()
    expect(page.locator("#detail-title")).to_contain_text(NAME)  # the detail shows it whole
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= page.viewport_size["width"]
    screenshot(page, f"long-live-{page.size_name}")


def test_the_run_list_and_report_cut_long_names(sized: Page, live_micro_server, app_id) -> None:
    page = sized
    page.goto(f"{live_micro_server.url}/apps/{app_id}/test-runs")
    expect(page.locator("#test-runs tbody tr")).to_have_count(1)
    screenshot(page, f"long-runs-{page.size_name}")
    assert_fits(page, "#test-runs tbody tr")
    page.locator("#test-runs tbody a").click()
    expect(page.locator("#verdict")).to_have_text("FAILED")
    screenshot(page, f"long-report-{page.size_name}")
    assert_fits(page, "#violation-groups tr.group-head")
    # Path and Problem are on screen, not behind a sideways scroll.
    viewport = page.viewport_size["width"]
    for cell in page.locator("#violation-groups tr.group-head td").all():
        box = cell.bounding_box()
        assert box["x"] + box["width"] <= viewport, (cell.inner_text()[:40], box)
    screenshot(page, f"long-report-{page.size_name}")


def test_the_inference_list_cuts_long_names(sized: Page, live_micro_server, app_id) -> None:
    page = sized
    page.goto(f"{live_micro_server.url}/apps/{app_id}/plan/infer")
    expect(page.locator("#pick tbody tr")).to_have_count(1)
    assert_fits(page, "#pick tbody tr")
    screenshot(page, f"long-infer-{page.size_name}")


def test_the_overview_is_readable(sized: Page, live_micro_server, app_id) -> None:
    page = sized
    page.goto(f"{live_micro_server.url}/apps/{app_id}/overview?window=1h")
    labels = page.locator("#volume-chart text")
    expect(labels.first).to_be_visible()
    sizes = [label.bounding_box()["height"] for label in labels.all()]
    assert min(sizes) >= 10, sizes  # were ~4 px high on a phone
    assert page.evaluate("document.scrollingElement.scrollWidth") <= page.viewport_size["width"]
    screenshot(page, f"long-overview-{page.size_name}")
    viewport = page.viewport_size["width"]
    for cell in page.locator("main table td").all():
        box = cell.bounding_box()
        if box:  # every cell of every table ends inside the window
            assert box["x"] + box["width"] <= viewport + 1, (cell.inner_text()[:40], box)
