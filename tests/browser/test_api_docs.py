"""The API reference page renders /openapi.json with the vendored Swagger UI, under the CSP,
with nothing loaded from outside the app."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.support.browser import SCREENSHOTS, LiveServer, screenshot


def test_api_docs_render_the_document_from_local_files(
    page: Page, live_micro_server: LiveServer
) -> None:
    origin = urlsplit(live_micro_server.url).netloc
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    problems: list[str] = []  # CSP refusals and script errors show up in the console
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))

    response = page.goto(f"{live_micro_server.url}/api/docs")
    assert response is not None and response.status == 200
    # Swagger UI has read the document: its title, a tag section and an operation's path.
    expect(page.locator(".info .title")).to_contain_text("Live Validation Dashboard API")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    events = page.locator(".opblock-summary-path", has_text="/api/apps/{app_id}/events")
    expect(events).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "api-docs-top.png"))  # what a reader sees first
    events.click()  # an operation opens with its parameters, the status filter's enum among them
    expect(page.locator(".parameters-container").first).to_contain_text("unplanned")

    screenshot(page, "api-docs")
    events.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "api-docs-operation.png"))
    assert hosts == {origin}, f"requests left the app: {hosts - {origin}}"
    assert problems == []
