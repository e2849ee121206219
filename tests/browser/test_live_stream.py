"""In a real browser: events posted over HTTP with the app's key appear in the live stream
within 2 s without a reload; filtering to invalid; a row opens its payload with the violated
property marked, beside the table on a wide screen and right under its row on a phone; pause
holds the table still and counts what waits; relative times with the exact local time on
hover; verdict badges; the test-run link; the phone layout; markup in a payload, a run name or
a device renders as text and runs nothing."""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import TrackedApp
from app.services.accounts import users as accounts
from app.services.apps import create_app_record
from tests.dashboard.helpers import PASSWORD
from tests.helpers import DEMO_PLAN
from tests.support.browser import log_in, screenshot

XSS = ["<script>window.pwned = 1</script>", '"><img src=x onerror="window.pwned = 2">']
PHONE = {"width": 390, "height": 844}
# Not the machine's zone, so "local time" in the title is the browser's, converted.
ZONE = "Asia/Kolkata"
_VIEWERS = itertools.count(1)


@pytest.fixture
def shop(live_micro_server):
    """A verified user of its own owning an app with the demo plan: (app id, key, e-mail)."""
    email = f"viewer{next(_VIEWERS)}@example.com"
    with live_micro_server.app.app_context():
        user = accounts.sign_up(email, PASSWORD)
        accounts.verify_email_now(user)
        new = create_app_record("Shop", DEMO_PLAN, owner_id=user.id)
        return new.app.id, new.app.write_key, email


@pytest.fixture
def phone(browser):
    """A page at an iPhone 14's size, with touch."""
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    yield context.new_page()
    context.close()


def _log_in(page, url: str, email: str) -> None:
    log_in(page, url, email, PASSWORD)


def _post(page, url: str, key: str, **event) -> None:
    response = page.request.post(f"{url}/api/logs/{key}", data=event)
    assert response.ok, response.text()


def _rows(page):
    return page.locator("#events tbody tr[data-id]")


def test_live_stream_shows_new_events_filters_and_opens_violations(
    live_micro_server, worker, shop, page
):
    url = live_micro_server.url
    app_id, key, email = shop
    _log_in(page, url, email)
    page.goto(f"{url}/apps/{app_id}/live")
    with live_micro_server.app.app_context():
        apps_before = db.session.scalar(select(func.count(TrackedApp.id)))
    _post(page, url, key, eventName="user_login", userId=7)
    _post(page, url, key, eventName="user_login", userId="x")
    hostile = {"eventName": "user_login", "userId": 9, "method": XSS[0], "note": XSS[1]}
    _post(page, url, key, **hostile)
    rows = _rows(page)
    rows.nth(2).wait_for(timeout=2000)  # within 2 s of posting, no reload
    assert rows.count() == 3
    assert rows.first.locator("td .name").nth(0).text_content() == "user_login"

    page.get_by_label("Status").select_option("invalid")
    expect(rows).to_have_count(2)
    assert rows.locator(".badge").all_text_contents() == ["invalid", "invalid"]
    rows.filter(has_text="invalid").last.click()
    marked = page.locator("#detail-payload .violated").all_text_contents()
    assert any('"userId"' in line for line in marked)
    assert "/properties/userId" in page.locator("#detail-violations").text_content()

    # The hostile payload: shown as text, and nothing ran.
    page.get_by_label("Status").select_option("")
    expect(rows).to_have_count(3)
    rows.first.click()
    payload = page.locator("#detail-payload").text_content()
    assert json.dumps(XSS[0])[1:-1] in payload or XSS[0] in payload
    assert page.evaluate("window.pwned") is None
    assert page.locator("#detail-payload img, #detail-payload script").count() == 0
    with live_micro_server.app.app_context():  # and no request the markup could make added apps
        assert db.session.scalar(select(func.count(TrackedApp.id))) == apps_before


def test_pause_holds_the_table_and_counts_new_events(live_micro_server, worker, shop, page):
    url = live_micro_server.url
    app_id, key, email = shop
    _log_in(page, url, email)
    page.goto(f"{url}/apps/{app_id}/live")
    for n in range(2):
        _post(page, url, key, eventName="user_login", userId=n)
    rows = _rows(page)
    expect(rows).to_have_count(2)
    top = rows.first.get_attribute("data-id")

    page.get_by_role("button", name="Pause").click()
    for n in range(3):
        _post(page, url, key, eventName="screen_view", screen_name=f"s{n}")
    button = page.locator("#pause")
    expect(button).to_have_text("3 new — resume")  # all three polled and counted …
    expect(page.locator("#stream-state")).to_contain_text("3 new events waiting")
    expect(button).to_have_class(re.compile(r"\bpaused\b"))
    # … and none shown: the table has not moved.
    expect(rows).to_have_count(2)
    assert rows.first.get_attribute("data-id") == top
    screenshot(page, "live-paused")

    button.click()
    expect(rows).to_have_count(5)
    assert rows.locator("td.col-event .name").all_text_contents()[:3] == ["screen_view"] * 3
    assert [int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.id)")] == sorted(
        (int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.id)")), reverse=True
    )
    expect(button).to_have_text("Pause")
    expect(button).not_to_have_class(re.compile(r"\bpaused\b"))
    _post(page, url, key, eventName="user_login", userId=99)  # live again
    expect(rows).to_have_count(6)


def _fill(page, url: str, key: str, count: int) -> None:
    for n in range(count):
        _post(page, url, key, eventName="user_login", userId="x" if n % 2 else n, n=n)


def test_detail_is_beside_its_row_when_wide_and_under_it_on_a_phone(
    live_micro_server, worker, shop, page, phone
):
    url = live_micro_server.url
    app_id, key, email = shop
    _fill(page, url, key, 40)

    # Wide: the side panel, in view although the row is far down a long list.
    _log_in(page, url, email)
    page.goto(f"{url}/apps/{app_id}/live")
    rows = _rows(page)
    expect(rows).to_have_count(40)
    row = rows.nth(34)  # an invalid one (odd n)
    row.scroll_into_view_if_needed()
    row.click()
    detail = page.locator("#detail")
    expect(detail).to_be_visible()
    assert detail.evaluate("d => d.parentElement.id") == "side"
    expect(detail).to_be_in_viewport()
    expect(row).to_be_in_viewport()
    expect(row).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#detail-violations li")).to_have_count(1)
    screenshot(page, "live-detail")
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()

    # Narrow: a row of its own right under the clicked one.
    _log_in(phone, url, email)
    phone.goto(f"{url}/apps/{app_id}/live")
    rows = _rows(phone)
    expect(rows).to_have_count(40)
    row = rows.nth(30)
    row.scroll_into_view_if_needed()
    row.click()
    detail = phone.locator("#detail")
    expect(detail).to_be_visible()
    under = row.locator("xpath=following-sibling::tr[1]")
    expect(under).to_have_class("detail-row")
    assert under.locator("#detail").count() == 1
    expect(detail).to_be_in_viewport()
    expect(phone.locator("#detail-payload")).to_contain_text('"userId": "x"')
    screenshot(phone, "live-detail-phone")
    # Another row: the detail moves under that one; the same row again closes it.
    other = rows.nth(3)
    other.click()
    expect(other.locator("xpath=following-sibling::tr[1]")).to_have_class("detail-row")
    expect(phone.locator("#events tr.detail-row")).to_have_count(1)
    other.click()
    expect(phone.locator("#events tr.detail-row")).to_have_count(0)


def _contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two CSS rgb() colours."""

    def luminance(css: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", css)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_relative_times_badges_and_the_run_link(live_micro_server, worker, shop, browser):
    url = live_micro_server.url
    app_id, key, email = shop
    context = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id=ZONE)
    page = context.new_page()
    _log_in(page, url, email)
    page.goto(f"{url}/apps/{app_id}/live")
    run = "build 7/α&x?y#z"
    _post(page, url, key, eventName="user_login", userId=1, context={"testRun": run})
    _post(page, url, key, eventName="user_login", userId="x")
    _post(page, url, key, eventName="not_in_plan")
    rows = _rows(page)
    expect(rows).to_have_count(3)

    # A relative time that keeps counting, the exact local time on hover.
    time = rows.last.locator("time")
    expect(time).to_have_text(re.compile(r"^(now|\d+ s ago)$"))
    received = page.request.get(f"{url}/apps/{app_id}/events.json").json()["events"][-1]
    assert time.get_attribute("datetime") == received["received_at"]
    local = datetime.fromisoformat(received["received_at"]).astimezone(ZoneInfo(ZONE))
    title = time.get_attribute("title")
    assert local.strftime("%H:%M:%S") in title and str(local.year) in title, title
    assert f".{local.microsecond // 1000:03d}" in title, title  # to the millisecond
    first = time.text_content()
    expect(time).not_to_have_text(first, timeout=3000)  # it updates on its own

    # Badges: the verdict in words, in colours of enough contrast.
    badges = rows.locator(".badge")
    assert badges.all_text_contents() == ["unplanned", "invalid", "valid"]
    for badge in badges.all():
        colours = badge.evaluate(
            "b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]"
        )
        assert _contrast(*colours) >= 4.5, colours
    backgrounds = badges.evaluate_all("bs => bs.map(b => getComputedStyle(b).backgroundColor)")
    assert len(set(backgrounds)) == 3, backgrounds
    assert badges.evaluate_all("bs => bs.map(b => b.className)") == [
        "badge unplanned",
        "badge invalid",
        "badge valid",
    ]

    # The run column links to the run's report, its name encoded whole.
    link = rows.last.locator("td.col-run a")
    expect(link).to_have_text(run)
    href = link.get_attribute("href")
    assert href == f"/apps/{app_id}/test-runs/report?name=build%207%2F%CE%B1%26x%3Fy%23z"
    expect(rows.first.locator("td.col-run")).to_have_text("—")
    screenshot(page, "live")
    link.click()
    page.wait_for_url(lambda url: url.endswith(href))
    assert page.request.get(page.url).status == 200
    expect(page.locator("h1 code")).to_have_text(run)
    context.close()


def test_markup_in_a_run_name_or_device_is_text_in_the_row_and_the_detail(
    live_micro_server, worker, shop, page
):
    url = live_micro_server.url
    app_id, key, email = shop
    _log_in(page, url, email)
    page.goto(f"{url}/apps/{app_id}/live")
    hostile = {"testRun": XSS[1], "device": {"id": XSS[0]}, "app": {"version": XSS[1][:60]}}
    _post(page, url, key, eventName=XSS[1], userId=1, context=hostile)
    row = _rows(page).first
    expect(row).to_be_visible()
    expect(row.locator("td.col-run a")).to_have_text(XSS[1])
    expect(row.locator("td.col-event .name")).to_have_text(XSS[1])
    row.click()
    detail = page.locator("#detail")
    expect(detail.locator("#detail-title")).to_contain_text(XSS[1])
    expect(detail.locator(".facts")).to_contain_text(XSS[0])
    expect(detail.locator(".facts a")).to_have_text(XSS[1])
    assert page.locator("#live img, #live script").count() == 0
    assert page.evaluate("window.pwned") is None


def test_phone_layout_keeps_status_in_view_and_filters_folded(
    live_micro_server, worker, shop, phone
):
    url = live_micro_server.url
    app_id, key, email = shop
    long = "checkout_" + "step" * 20
    _post(phone, url, key, eventName="user_login", userId=1, context={"testRun": "nightly-2041"})
    device = {"device": {"id": "d" * 120}, "testRun": "r" * 80, "app": {"version": "9" * 60}}
    _post(phone, url, key, eventName=long, value=1, context=device)
    _log_in(phone, url, email)
    phone.goto(f"{url}/apps/{app_id}/live")
    rows = _rows(phone)
    expect(rows).to_have_count(2)

    width = PHONE["width"]
    assert phone.evaluate("document.documentElement.scrollWidth") <= width
    toggle = phone.get_by_role("button", name="Filters")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(phone.locator("#filters")).to_be_hidden()
    for badge in rows.locator(".badge").all():  # the whole status badge, on screen
        box = badge.bounding_box()
        assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= width, box
    expect(phone.get_by_role("columnheader", name="Status")).to_be_in_viewport()
    # The run column gives way; the run's link sits under the event's name instead.
    expect(phone.get_by_role("columnheader", name="Test run")).to_be_hidden()
    expect(rows.last.locator("a.run-inline")).to_have_text("nightly-2041")
    expect(rows.last.locator("a.run-inline")).to_be_visible()
    screenshot(phone, "live-phone")

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(phone.get_by_label("Status")).to_be_visible()
    phone.get_by_label("Status").select_option("unplanned")
    expect(rows).to_have_count(1)
    expect(phone.locator("#filters-toggle")).to_have_text("Filters (1)")
    assert phone.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(phone, "live-phone-filters")
