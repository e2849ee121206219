"""analytics-next, Segment's browser SDK (npm @segment/analytics-next 1.84.3, its UMD build
dist/umd/index.js), in chromium against a running service, pointed here by `cdnURL` only.

The page comes from a static server of its own on another port, so every request is
cross-origin as on a real site: the CORS preflight (analytics-next sends `Authorization: Basic`)
is part of the test. What the SDK does, per its source:
- src/browser/index.ts `loadCDNSettings`: GET `${cdnURL}/v1/projects/${writeKey}/settings`;
- src/plugins/segmentio/index.ts: posts each event to `${protocol}://${apiHost}/${type[0]}`
  (`/v1/t`, `/v1/p`, `/v1/i`), apiHost/protocol from the settings' `Segment.io` entry merged with
  the load options' `integrations["Segment.io"]` (src/lib/merged-options.ts);
- src/plugins/segmentio/batched-dispatcher.ts: with `deliveryStrategy: {strategy: "batching"}`,
  posts `{writeKey, batch, sentAt}` to `${apiHost}/b`, with `keepalive` once the page is hidden;
- src/plugins/segmentio/shared-dispatcher.ts: `Content-Type: text/plain`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request

from stack.servers import wait_until
from tests.helpers import SDK_PLAN
from tests.sdk.helpers import stored_events
from tests.support.browser import LiveServer
from tests.support.profiles import add_app

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Shop test page</h1>
<script src="/analytics-next/bundles/index.js"></script>
</body></html>
"""


class _SitePage(SimpleHTTPRequestHandler):
    """The test site: its page at /shop.html and the SDK's UMD files under
    /analytics-next/bundles/ (where the bundle looks for its chunks)."""

    def translate_path(self, path: str) -> str:
        name = urlsplit(path).path.removeprefix("/analytics-next/bundles/")
        return str(self.directory) + "/" + name.rsplit("/", 1)[-1]

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        if urlsplit(self.path).path == "/shop.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the test reports what matters


@pytest.fixture(scope="module")
def site(node_modules) -> Iterator[str]:
    """The test site on a free port of 127.0.0.1 (another origin than the service)."""
    umd = node_modules / "@segment" / "analytics-next" / "dist" / "umd"
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_SitePage, directory=str(umd)))
    thread = threading.Thread(target=server.serve_forever, name="sdk-test-site", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def _record(page: Page) -> list[Request]:
    """Every request the page's context makes from now on."""
    seen: list[Request] = []
    page.context.on("request", lambda request: seen.append(request))
    return seen


def _load_and_send(page: Page, key: str, cdn_url: str, options: dict) -> dict[str, str]:
    """Load analytics-next as a site would and make four calls; their messageIds by call."""
    return page.evaluate(
        """async ([writeKey, cdnURL, options]) => {
            const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(
                {writeKey, cdnURL}, options);
            const ids = {};
            ids.identify = (await analytics.identify("u1", {email: "u1@example.com"}))
                .event.messageId;
            ids.track = (await analytics.track("Order Completed", {revenue: 12.5}))
                .event.messageId;
            ids.bad_track = (await analytics.track("Order Completed", {revenue: "12"}))
                .event.messageId;
            ids.page = (await analytics.page("Pricing")).event.messageId;
            return ids;
        }""",
        [key, cdn_url, options],
    )


EXPECTED = {
    "identify": ("identify", "identify", "valid"),
    "track": ("track", "Order Completed", "valid"),
    "bad_track": ("track", "Order Completed", "invalid"),
    "page": ("page", "Pricing", "valid"),  # analytics-next adds properties.path itself
}


def _stored(server: LiveServer, app_id: int, ids: dict[str, str]) -> dict[str, tuple]:
    wait_until(lambda: len(stored_events(server.app, app_id)) == len(ids), 30, "the SDK's events")
    rows = {e.message_id: e for e in stored_events(server.app, app_id)}
    for row in rows.values():
        assert row.library_name == "analytics.js"
        assert row.library_version == "next-1.84.3"  # "npm:" only in the npm import
        assert row.user_id == "u1"
    return {call: (r.type, r.event_name, r.status) for call, r in _by_call(rows, ids).items()}


def _by_call(rows: dict, ids: dict[str, str]) -> dict:
    return {call: rows[message_id] for call, message_id in ids.items()}


def _paths(requests: list[Request], service: str) -> list[str]:
    """The service paths the page requested, in order; nothing may leave 127.0.0.1."""
    for request in requests:
        assert urlsplit(request.url).hostname == "127.0.0.1", request.url
    return [urlsplit(r.url).path for r in requests if r.url.startswith(service)]


def test_cdn_url_alone_sends_every_call_here(page, live_micro_server, worker, site):
    shop = add_app(live_micro_server.app, f"web-{uuid.uuid4().hex[:8]}", SDK_PLAN).app
    requests = _record(page)
    page.goto(f"{site}/shop.html")
    ids = _load_and_send(page, shop.write_key, live_micro_server.url, {})

    assert _stored(live_micro_server, shop.id, ids) == EXPECTED
    paths = _paths(requests, live_micro_server.url)
    assert paths[0] == f"/v1/projects/{shop.write_key}/settings"
    # Each event to its per-type path (a preflight first shows up as a second request).
    assert sorted(set(paths[1:])) == ["/v1/i", "/v1/p", "/v1/t"]
    posts = [r for r in requests if r.method == "POST"]
    assert {r.headers["content-type"] for r in posts} == {"text/plain"}
    assert all(r.headers["authorization"].startswith("Basic ") for r in posts)


def test_documented_options_and_batching_flush_on_leaving_the_page(
    page, live_micro_server, worker, site
):
    shop = add_app(live_micro_server.app, f"web-{uuid.uuid4().hex[:8]}", SDK_PLAN).app
    host = urlsplit(live_micro_server.url).netloc
    # docs/sdks.md's browser snippet, with batching that waits far longer than the test:
    # only leaving the page (the SDK's pagehide/visibilitychange flush, keepalive) sends.
    options = {
        "integrations": {
            "Segment.io": {
                "apiHost": f"{host}/v1",
                "protocol": "http",
                "deliveryStrategy": {
                    "strategy": "batching",
                    "config": {"size": 100, "timeout": 600_000},
                },
            }
        }
    }
    requests = _record(page)
    page.goto(f"{site}/shop.html")
    ids = _load_and_send(page, shop.write_key, live_micro_server.url, options)
    assert stored_events(live_micro_server.app, shop.id) == []  # still in the SDK's buffer
    page.goto("about:blank")

    assert _stored(live_micro_server, shop.id, ids) == EXPECTED
    # They came in one batch: the dispatcher strips each event's sentAt and sends one for all.
    # (Sent while the page goes away, the request itself is no longer the page's to observe.)
    rows = stored_events(live_micro_server.app, shop.id)
    assert all("sentAt" not in row.payload and row.sent_at is not None for row in rows)
    assert len({row.received_at for row in rows}) == 1
    assert _paths(requests, live_micro_server.url) == [f"/v1/projects/{shop.write_key}/settings"]


def test_a_beacon_with_the_key_in_its_body_is_stored(page, live_micro_server, worker, site):
    # navigator.sendBeacon(url, string): `Content-Type: text/plain;charset=UTF-8`, no
    # Authorization possible, so the key travels as `writeKey` (what Segment's classic
    # analytics.js beacon option and hand-written unload handlers send).
    shop = add_app(live_micro_server.app, f"web-{uuid.uuid4().hex[:8]}", SDK_PLAN).app
    page.goto(f"{site}/shop.html")
    message_id = str(uuid.uuid4())
    queued = page.evaluate(
        """([url, body]) => navigator.sendBeacon(url, JSON.stringify(body))""",
        [
            f"{live_micro_server.url}/v1/t",
            {
                "type": "track",
                "event": "Order Completed",
                "properties": {"revenue": 4},
                "messageId": message_id,
                "userId": "u1",
                "writeKey": shop.write_key,
            },
        ],
    )
    assert queued is True
    wait_until(lambda: len(stored_events(live_micro_server.app, shop.id)) == 1, 30, "the beacon")
    (row,) = stored_events(live_micro_server.app, shop.id)
    assert (row.message_id, row.event_name, row.status) == (message_id, "Order Completed", "valid")
