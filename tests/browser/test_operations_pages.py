"""The operations page and the dead-letter console in a real browser: a dead letter whose event
carries a script and markup is listed and opened as text (the script never runs, no element is
made of it), discarded and replayed with the page's buttons, and both pages stay usable at
phone width. Screenshots: `operations`, `dead-letters`, `dead-letter`."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect

from app.extensions import db
from app.services.accounts.users import find_user, sign_up, verify_email_now
from app.services.apps import create_app_record
from app.services.storage.dead_letters import list_dead_letters, record_dead_letter
from app.tasks.events import TASK_NAME
from tests.dashboard.helpers import PASSWORD
from tests.helpers import DEMO_PLAN, queued_message
from tests.support.browser import LiveServer, log_in, screenshot

EMAIL = "ops@example.com"
SCRIPT = '<script>document.title="pwned"</script>'
MARKUP = '<img id="injected" src=x onerror="document.title=\'pwned\'">'


def test_dead_letters_are_shown_inert_and_handled_with_the_buttons(
    live_micro_server: LiveServer, page: Page
) -> None:
    url, flask_app = live_micro_server.url, live_micro_server.app
    with flask_app.app_context():
        verify_email_now(sign_up(EMAIL, PASSWORD))
        new = create_app_record("Shop", DEMO_PLAN, owner_id=find_user(EMAIL).id)
        app_id, write_key = new.app.id, new.app.write_key
        db.session.remove()
    raws = [
        {"eventName": "user_login", "userId": 1},
        {"eventName": SCRIPT, "note": MARKUP},
    ]
    for raw in raws:
        message = queued_message(flask_app, write_key, raw)
        with flask_app.app_context():
            record_dead_letter(message["task_id"], TASK_NAME, message, f"IntegrityError {MARKUP}")
            db.session.remove()

    log_in(page, url, EMAIL, PASSWORD)

    page.get_by_role("link", name="Operations").click()
    expect(page.locator("#workers-micro")).to_contain_text("In-process worker")
    expect(page.locator(f'[data-app="{app_id}"]')).to_have_text("2")
    screenshot(page, "operations")

    page.get_by_role("link", name="Dead letters").click()
    expect(page.locator("#dead-letters tbody tr")).to_have_count(2)
    expect(page.locator("#dead-letters")).to_contain_text(SCRIPT)  # shown as text
    screenshot(page, "dead-letters")
    page.get_by_role("link", name=SCRIPT).click()
    shown = json.loads(page.locator("#message").text_content())  # the message, as text
    assert shown["payload"] == {"eventName": SCRIPT, "note": MARKUP}
    expect(page.locator("#error")).to_contain_text(MARKUP)
    assert page.locator("#injected").count() == 0 and page.locator("main script").count() == 0
    assert page.title() != "pwned"
    screenshot(page, "dead-letter")

    page.set_viewport_size({"width": 390, "height": 844})
    for path in (f"/apps/{app_id}/dead-letters", "/operations", page.url.replace(url, "")):
        page.goto(f"{url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("button", name="Discard").click()  # the opened one
    expect(page.locator(".flash")).to_contain_text("discarded")
    expect(page.locator("#dead-letters tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Replay all 1").click()
    expect(page.locator(".flash")).to_contain_text("Queued again: 1")
    expect(page.locator("#no-dead-letters")).to_be_visible()
    with flask_app.app_context():
        assert list_dead_letters(app_id) == []  # the other was replayed, this one discarded
        assert len(list_dead_letters(app_id, pending_only=False)) == 1
        db.session.remove()
    assert page.title() != "pwned"
