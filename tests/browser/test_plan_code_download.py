"""The plan page's "Typed tracking code" box in a real browser: pick a language and a version,
click Download, and the browser saves a zip named after the app, the version and the language,
holding exactly the files the API answers for them; the `lvd codegen` command shown follows the
choice (app/dashboard/static/plan_code.js); no CSP refusal; the box fits a phone's
width. Screenshots: `plan-code`, `plan-code-phone`."""

from __future__ import annotations

import copy
import io
import zipfile

from playwright.sync_api import Page, expect

from app.codegen import generate
from app.services.accounts.users import find_user, sign_up, verify_email_now
from app.services.apps import create_app_record
from app.services.plans import versions as plans
from tests.dashboard.helpers import PASSWORD
from tests.helpers import DEMO_PLAN
from tests.support.browser import LiveServer, csp_refusals, log_in, screenshot

EMAIL = "code@example.com"
DRAFT = copy.deepcopy(DEMO_PLAN)
DRAFT["events"]["app_opened"] = {"type": "object", "description": "The app came to the front."}


def test_the_code_box_downloads_a_zip(live_micro_server: LiveServer, page: Page) -> None:
    url, flask_app = live_micro_server.url, live_micro_server.app
    with flask_app.app_context():
        verify_email_now(sign_up(EMAIL, PASSWORD))
        new = create_app_record("Café Shop", DEMO_PLAN, owner_id=find_user(EMAIL).id)
        app_id = new.app.id
        plans.save_plan(new.app, DRAFT, publish=False)
    refused = csp_refusals(page)

    log_in(page, url, EMAIL, PASSWORD)
    page.goto(f"{url}/apps/{app_id}/plan")
    box = page.locator("#code")
    expect(box.get_by_role("heading", name="Typed tracking code")).to_be_visible()
    expect(box.get_by_label("Plan version")).to_have_value("1")  # the published one first
    command = box.locator("#code-command")
    expect(command).to_have_text("lvd codegen --language typescript --out src/tracking")
    box.get_by_label("Language").select_option("kotlin")
    expect(command).to_have_text("lvd codegen --language kotlin --out src/tracking")
    box.get_by_label("Language").select_option("typescript")
    box.get_by_label("Plan version").select_option("2")
    expect(command).to_have_text("lvd codegen --language typescript --out src/tracking --version 2")
    box.scroll_into_view_if_needed()
    screenshot(page, "plan-code")

    with page.expect_download() as started:
        box.get_by_role("button", name="Download .zip").click()
    download = started.value
    assert download.suggested_filename == "café-shop-plan-v2-typescript.zip"
    with zipfile.ZipFile(io.BytesIO(download.path().read_bytes())) as archive:
        files = {name: archive.read(name).decode() for name in archive.namelist()}
    expected = generate(DRAFT, "typescript", plan_version=2, app_name="Café Shop")
    assert files == {file.path: file.content for file in expected}
    assert "app_opened" in "".join(files.values())  # the draft's event, not the published plan

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box.scroll_into_view_if_needed()
    screenshot(page, "plan-code-phone")
    assert refused == []
