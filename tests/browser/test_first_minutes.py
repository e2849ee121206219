"""The first minutes of a new user in micro, in a real browser: `make run` (python run.py) is
started as a user starts it, events go to the printed demo write key, the user signs up with
the code printed on the console, finds the demo app with its events, creates an app from the
demo plan, sends a test run and finds it in the run list, picks observed events for a draft
plan, and reads the last hour of the overview per minute.

One flow of named steps, a screenshot after each (test-artifacts/screenshots/
first-minutes-<step>.png): to extend it, add a step method and call it from the test in order."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from stack.servers import wait_until
from tests.dashboard.helpers import PASSWORD
from tests.e2e.http import request
from tests.support.browser import screenshot
from tests.support.micro import MicroServer, console_code

EMAIL = "new.user@example.com"
# Sent before anyone signs up: a valid, an invalid and an unplanned event.
EVENTS = [
    ({"eventName": "user_login", "userId": 7, "method": "email"}, "valid"),
    ({"eventName": "purchase", "price": -1, "currency": "usd"}, "invalid"),
    ({"eventName": "level_up", "level": 3}, "unplanned"),
]

RUN = "checkout-42"
# A test run as a UI test sends it: twice the same invalid purchase (one group of violations,
# counted 2), a valid login and a junk name that inference must leave out.
JUNK = "<img src=x onerror=alert(1)>"
RUN_EVENTS = [
    ({"eventName": "purchase", "price": -5, "currency": "EUR"}, "invalid"),
    ({"eventName": "purchase", "price": -6, "currency": "EUR"}, "invalid"),
    ({"eventName": "user_login", "userId": 8, "method": "email"}, "valid"),
    ({"eventName": JUNK}, "unplanned"),
]

# A plan file the service refuses: RE2, the linear-time engine plans use, has no lookahead.
LOOKAHEAD = json.dumps(
    {"events": {"signup": {"type": "object", "properties": {"email": {"pattern": "(?=.*@)"}}}}}
).encode()


@pytest.fixture
def micro(tmp_path) -> Iterator[MicroServer]:
    server = MicroServer(tmp_path / "data")
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


class FirstMinutes:
    """The flow's steps; each leaves the page where the next one starts and takes a screenshot."""

    def __init__(self, page: Page, micro: MicroServer) -> None:
        self.page, self.micro = page, micro
        self.keys = micro.keys()  # as the console printed them

    def shot(self, name: str) -> None:
        # Named by step, not numbered: a step added later leaves the other files' names alone.
        screenshot(self.page, f"first-minutes-{name}")

    def send_events_with_the_printed_key(self) -> None:
        url = f"{self.micro.url}/api/logs/{self.keys['write']}"
        for event, verdict in EVENTS:
            status, body = request("POST", url, event)
            assert (status, body["status"]) == (202, verdict)

    def sign_up_with_the_code_from_the_console(self) -> None:
        page = self.page
        page.goto(f"{self.micro.url}/signup")
        page.get_by_label("E-mail").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign up").click()
        page.wait_for_url("**/verify?email=*")
        expect(page.locator("#code-on-console")).to_contain_text("printed on the console")
        page.get_by_label("Code from the e-mail").fill(console_code(self.micro, EMAIL, "sign-up"))
        self.shot("verify")
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_url("**/apps")

    def the_demo_app_is_listed(self) -> None:
        page = self.page
        expect(page.get_by_text("The demo app is yours")).to_be_visible()
        expect(page.get_by_role("link", name="demo", exact=True)).to_be_visible()
        self.shot("apps")

    def the_demo_app_shows_its_events(self) -> None:
        page = self.page
        page.get_by_role("link", name="demo", exact=True).click()
        page.get_by_role("link", name="Live events").click()
        rows = page.locator("#events tbody tr")
        expect(rows).to_have_count(len(EVENTS))
        for event, verdict in EVENTS:
            row = rows.filter(has_text=event["eventName"])
            expect(row).to_contain_text(verdict)
        self.shot("live")

    def stored_count(self) -> int:
        url = f"{self.micro.url}/api/apps/{self.keys['app_id']}/events?limit=100"
        status, body = request("GET", url, headers={"Authorization": f"Bearer {self.keys['read']}"})
        assert status == 200, body
        return len(body["events"])

    def a_test_run_is_in_the_run_list(self) -> None:
        url = f"{self.micro.url}/api/logs/{self.keys['write']}"
        for event, verdict in RUN_EVENTS:
            status, body = request("POST", url, event, headers={"X-Test-Run": RUN})
            assert (status, body["status"]) == (202, verdict)
        total = len(EVENTS) + len(RUN_EVENTS)
        wait_until(lambda: self.stored_count() == total, 30, "the run's events stored")
        page = self.page
        page.goto(f"{self.micro.url}/apps/{self.keys['app_id']}")
        page.get_by_role("link", name="Test runs").click()
        row = page.locator("#test-runs tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text(RUN)
        expect(row).to_contain_text("FAILED")
        self.shot("test-runs")
        row.get_by_role("link", name=RUN).click()
        # The two invalid purchases broke the same rule: one row, counted twice.
        groups = page.locator("#violation-groups tr.group-head")
        price = groups.filter(has_text="purchase").filter(has_text="/price")
        expect(price).to_have_count(1)
        expect(price.locator(".count")).to_have_text("2×")
        self.shot("test-run")

    def inference_adds_only_the_picked_events(self) -> None:
        page = self.page
        page.goto(f"{self.micro.url}/apps/{self.keys['app_id']}/plan")
        page.get_by_role("link", name="Infer a draft from recent traffic").click()
        expect(page.get_by_label("level_up")).to_be_checked()
        junk = page.get_by_label(JUNK)  # shown as text, and not ticked
        expect(junk).not_to_be_checked()
        self.shot("infer")
        page.get_by_role("button", name="Add the ticked events to a draft").click()
        expect(page.locator("#events").get_by_role("link", name="level_up")).to_be_visible()
        expect(page.locator("#events").get_by_text(JUNK)).to_have_count(0)
        self.shot("draft")

    def the_overview_counts_per_minute(self) -> None:
        page = self.page
        page.goto(f"{self.micro.url}/apps/{self.keys['app_id']}/overview?window=1h")
        expect(page.locator("#resolutions strong")).to_have_text("minute")
        # Statistics are counted once a minute in the background; the user need not wait.
        page.get_by_role("button", name="Recount now").click()
        heading = page.get_by_role("heading", name="Events per minute")
        total = len(EVENTS) + len(RUN_EVENTS)

        def counted() -> bool:
            if f"({total} in 1h)" in heading.inner_text():
                return True
            page.reload()
            return False

        wait_until(counted, 30, "the minute statistics")
        expect(page.locator("#resolutions strong")).to_have_text("minute")
        self.shot("overview")

    def a_refused_plan_file_is_named(self) -> None:
        page = self.page
        page.get_by_role("link", name="Apps", exact=True).click()
        page.get_by_label("App name").fill("Shop Android")
        page.get_by_role("radio", name="Upload a plan file").check()
        page.locator("#plan_file").set_input_files(
            files=[{"name": "plan.json", "mimeType": "application/json", "buffer": LOOKAHEAD}]
        )
        page.get_by_role("button", name="Create app").click()
        expect(page.locator(".flash.error")).to_contain_text(
            "The app was not created: Event 'signup': the pattern '(?=.*@)' at "
            "/properties/email/pattern cannot be used: it uses lookahead"
        )
        expect(page.get_by_role("link", name="Shop Android")).to_have_count(0)
        self.shot("refused-plan-file")

    def create_an_app_from_the_demo_plan(self) -> None:
        page = self.page
        page.get_by_label("App name").fill("Shop Android")
        page.get_by_role("radio", name="The demo plan").check()
        self.shot("new-app")
        page.get_by_role("button", name="Create app").click()
        page.wait_for_url(re.compile(r".*/apps/\d+$"))
        page.get_by_role("link", name="Tracking plan").click()
        events = page.locator("#events")
        for name in ("user_login", "purchase"):
            expect(events.get_by_role("link", name=name, exact=True)).to_be_visible()
        self.shot("new-app-plan")


def test_the_first_minutes_in_micro(page, micro):
    refused: list[str] = []  # the pages' CSP: nothing may need inline script or style
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    flow = FirstMinutes(page, micro)
    flow.send_events_with_the_printed_key()
    flow.sign_up_with_the_code_from_the_console()
    flow.the_demo_app_is_listed()
    flow.the_demo_app_shows_its_events()
    flow.a_test_run_is_in_the_run_list()
    flow.inference_adds_only_the_picked_events()
    flow.the_overview_counts_per_minute()
    flow.a_refused_plan_file_is_named()
    flow.create_an_app_from_the_demo_plan()
    assert refused == []
