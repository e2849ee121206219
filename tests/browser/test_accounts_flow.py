"""In a real browser: sign up, the code arrives at an SMTP sink, confirm it, create an app, and
see its write key; screenshots of each page under test-artifacts/screenshots/."""

from __future__ import annotations

import re

from tests.dashboard.helpers import PASSWORD, deliver_mail
from tests.support.browser import screenshot


def _deliver_mail(server, smtp_sink) -> None:
    """Run what the app queued on its `emails` queue against the sink, as its worker would."""
    deliver_mail(server.app, smtp_sink.url)


def test_sign_up_confirm_create_an_app_and_see_its_write_key(live_micro_server, page, smtp_sink):
    server = live_micro_server
    # The pages' Content-Security-Policy blocks inline script and style: nothing may need them.
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.goto(f"{server.url}/signup")
    page.get_by_label("E-mail").fill("browser@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    screenshot(page, "signup")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/verify?email=*")
    assert "We sent an e-mail to browser@example.com" in page.content()

    _deliver_mail(server, smtp_sink)
    [mail] = smtp_sink.wait_for(1)
    assert mail["To"] == "browser@example.com"
    code = re.search(r"\b(\d{6})\b", mail["Subject"]).group(1)
    page.get_by_label("Code from the e-mail").fill(code)
    screenshot(page, "verify")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/apps")
    assert page.get_by_role("heading", name="Your apps").is_visible()
    screenshot(page, "apps-empty")

    page.get_by_label("App name").fill("Shop iOS")
    page.get_by_role("button", name="Create app").click()
    page.wait_for_url(re.compile(r".*/apps/\d+$"))
    write_key = page.locator("#write-key").text_content()
    assert re.fullmatch(r"[0-9a-f]{40}", write_key)
    assert f"/api/logs/{write_key}" in page.locator("pre").first.text_content()
    screenshot(page, "app")

    # Phone width: the same page stays usable (no horizontal scrolling of the body).
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "app-phone")
    assert refused == []
