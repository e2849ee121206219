"""The browser stack works: chromium reaches the live app, runs JavaScript, takes screenshots."""

from __future__ import annotations

import json

from playwright.sync_api import Page

from tests.support.browser import LiveServer, screenshot


def test_chromium_loads_the_live_app_runs_scripts_and_takes_screenshots(
    page: Page, live_micro_server: LiveServer
) -> None:
    response = page.goto(f"{live_micro_server.url}/healthz")
    assert response is not None and response.status == 200
    body = page.locator("body").inner_text()
    assert '"status"' in body and "ok" in body
    assert json.loads(body) == {"status": "ok"}

    # Scripts run, so a later "the payload renders inert" assertion means something. On a
    # blank page: the app's pages forbid inline script (Content-Security-Policy), and that
    # policy would stay with set_content's document.
    page.goto("about:blank")
    page.set_content(
        "<h1 id=t>hello</h1><script>document.getElementById('t').textContent='ran'</script>"
    )
    assert page.locator("#t").text_content() == "ran"

    path = screenshot(page, "browser-smoke")
    assert path.is_file() and path.stat().st_size > 0
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
