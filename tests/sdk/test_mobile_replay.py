"""The exact requests of the mobile SDKs, replayed byte for byte against a running service.

analytics-swift and analytics-kotlin cannot run here (no Xcode, no Android runtime), so their
requests are rebuilt from their sources and sent over a real socket:

- analytics-swift 1.10.0 (github.com/segmentio/analytics-swift, tag 1.10.0; its Version.swift
  still says 1.9.4, which is what its User-Agent carries):
  Sources/Segment/Utilities/Networking/HTTPClient.swift — `POST https://<apiHost>/b`, settings
  from `https://<cdnHost>/projects/<key>/settings`, headers `Content-Type: application/json;
  charset=utf-8`, `User-Agent: analytics-ios/<version>`, `Accept-Encoding: gzip`, no
  Authorization, the body uploaded from the batch file as is (not gzipped);
  Sources/Segment/Utilities/Storage/Types/DirectoryStore.swift — the file is `{ "batch": [`,
  one event per line with a leading comma after the first, then `],"sentAt":"…","writeKey":"…"}`,
  every line ending in "\\n" (LineStream.swift); events are JSONEncoder output, which writes `/`
  as `\\/`; dates are ISO 8601 with milliseconds (iso8601.swift).
- analytics-kotlin 1.25.0 (github.com/segmentio/analytics-kotlin, tag 1.25.0; its Constants.kt
  says LIBRARY_VERSION 1.24.1): core/src/main/java/com/segment/analytics/kotlin/core/HTTPClient.kt
  — `POST https://<apiHost>/b` with `Content-Type: text/plain`, `Content-Encoding: gzip` (the body
  written through a GZIPOutputStream), chunked streaming, `User-Agent: analytics-kotlin/1.24.1`,
  no Authorization; the settings GET with `Content-Type: application/json; charset=utf-8`.
  core/.../utilities/EventsFileManager.kt — `{"batch":[` + events joined by "," +
  `],"sentAt":"<SegmentInstant.now()>","writeKey":"<key>"}` (DateTimeUtils.kt: milliseconds, Z).
- analytics-react-native 2.24.1 (npm @segment/analytics-react-native): src/api.ts — `fetch(url,
  {method: "POST", body: JSON.stringify({batch, sentAt, writeKey}), headers: {"Content-Type":
  "application/json; charset=utf-8"}})` to `<proxy>/b` (src/plugins/SegmentDestination.ts with
  `useSegmentEndpoints`), settings from `<cdnProxy>/projects/<key>/settings` (src/analytics.ts).

All three use https:// (react-native: unless `allowInsecureProxy`); the replay speaks plain HTTP
to the test server, which changes nothing above the transport.
"""

from __future__ import annotations

import gzip
import http.client
import json
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from stack.servers import wait_until
from tests.helpers import SDK_PLAN
from tests.sdk.helpers import stored_events
from tests.support.browser import LiveServer
from tests.support.profiles import add_app

SENT_AT = "2026-12-04T16:40:01.250Z"


def _send(
    server: LiveServer, method: str, path: str, body: bytes | Iterator[bytes] | None, headers: dict
) -> tuple[int, bytes]:
    """One request on its own connection, headers exactly as given (http.client adds Host,
    Accept-Encoding: identity only when absent, and Content-Length or chunking)."""
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _swift_event(kind: str, message_id: str, fields: str) -> str:
    """A line as analytics-swift's JSONEncoder writes it (keys in its order, `/` as `\\/`)."""
    return (
        '{"anonymousId":"6C4D5B1E-1F0B-4C55-9E29-2A8C3E0D9F11","integrations":{},'
        f'"messageId":"{message_id}","timestamp":"2026-12-04T16:40:00.123Z","type":"{kind}",'
        '"userId":"u1",'
        '"context":{"app":{"build":"42","name":"Shop","namespace":"com.example.shop",'
        '"version":"2.3.1"},"device":{"manufacturer":"Apple","model":"arm64","type":"ios"},'
        '"instanceId":"0E3A5C1F-8E8B-4E8A-9D0A-3F3B2C1D0E9F","library":{"name":"analytics-swift",'
        '"version":"1.9.4"},"locale":"en-US","network":{"wifi":true},"os":{"name":"iOS",'
        '"version":"17.2"},"screen":{"height":844,"width":390},"timezone":"Europe\\/Berlin"},'
        f"{fields},"
        '"_metadata":{"bundled":[],"unbundled":[],"bundledIds":[]}}'
    )


def _kotlin_event(kind: str, message_id: str, fields: str) -> str:
    """An event as analytics-kotlin's kotlinx.serialization writes it."""
    return (
        f'{{{fields},"type":"{kind}","messageId":"{message_id}",'
        '"anonymousId":"a8b5c6d7-1e2f-4a3b-9c8d-7e6f5a4b3c2d","integrations":{},'
        '"context":{"app":{"name":"Shop","version":"2.3.1","namespace":"com.example.shop",'
        '"build":"42"},"device":{"id":"dev-1","manufacturer":"Google","model":"sdk_gphone64",'
        '"name":"emu64a","type":"android"},"library":{"name":"analytics-kotlin",'
        '"version":"1.24.1"},"os":{"name":"Android","version":"14"},"locale":"en-US",'
        '"timezone":"Europe/Berlin","network":{"wifi":true},"instanceId":"i-1"},'
        '"userId":"u1","timestamp":"2026-12-04T16:40:00.456Z",'
        '"_metadata":{"bundled":[],"unbundled":[],"bundledIds":[]}}'
    )


@pytest.fixture
def shop(live_micro_server: LiveServer, worker):
    return add_app(live_micro_server.app, f"mobile-{uuid.uuid4().hex[:8]}", SDK_PLAN).app


def _verdicts(server: LiveServer, app_id: int, count: int) -> dict[str, tuple]:
    wait_until(lambda: len(stored_events(server.app, app_id)) == count, 30, f"{count} events")
    return {
        e.message_id: (e.type, e.event_name, e.status, e.library_name, e.sent_at.isoformat())
        for e in stored_events(server.app, app_id)
    }


def test_analytics_swift_batch(live_micro_server, shop):
    ids = [str(uuid.uuid4()).upper() for _ in range(4)]
    events = [
        _swift_event("track", ids[0], '"event":"Order Completed","properties":{"revenue":12.5}'),
        _swift_event("track", ids[1], '"event":"Order Completed","properties":{"revenue":"12"}'),
        _swift_event("screen", ids[2], '"name":"Home","properties":{"tab":"feed"}'),
        _swift_event(
            "identify", ids[3], '"traits":{"email":"u1@example.com","site":"https:\\/\\/x.test"}'
        ),
    ]
    lines = ['{ "batch": [', events[0]] + ["," + e for e in events[1:]]
    lines.append(f'],"sentAt":"{SENT_AT}","writeKey":"{shop.write_key}"}}')
    body = "".join(line + "\n" for line in lines).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "analytics-ios/1.9.4",
        "Accept-Encoding": "gzip",
        "Accept": "*/*",
        "Accept-Language": "en-US,en;q=0.9",
    }
    status, answer = _send(live_micro_server, "POST", "/v1/b", body, headers)
    assert status == 200, answer
    assert json.loads(answer)["counts"] == {
        "valid": 3,
        "invalid": 1,
        "unplanned": 0,
        "duplicate": 0,
        "rejected": 0,
    }
    sent = "2026-12-04T16:40:01.250000+00:00"
    assert _verdicts(live_micro_server, shop.id, 4) == {
        ids[0]: ("track", "Order Completed", "valid", "analytics-swift", sent),
        ids[1]: ("track", "Order Completed", "invalid", "analytics-swift", sent),
        ids[2]: ("screen", "Home", "valid", "analytics-swift", sent),
        ids[3]: ("identify", "identify", "valid", "analytics-swift", sent),
    }


def test_analytics_kotlin_gzipped_chunked_batch(live_micro_server, shop):
    ids = [str(uuid.uuid4()) for _ in range(3)]
    events = [
        _kotlin_event("track", ids[0], '"properties":{"revenue":3},"event":"Order Completed"'),
        _kotlin_event("identify", ids[1], '"traits":{"email":"not-an-email"}'),
        _kotlin_event("screen", ids[2], '"properties":{"tab":"feed"},"name":"Home"'),
    ]
    text = (
        '{"batch":[' + ",".join(events) + f'],"sentAt":"{SENT_AT}","writeKey":"{shop.write_key}"}}'
    )
    compressed = gzip.compress(text.encode())
    headers = {
        "User-Agent": "analytics-kotlin/1.24.1",
        "Content-Type": "text/plain",
        "Content-Encoding": "gzip",
        "Accept-Encoding": "gzip",  # OkHttp's own
        "Connection": "Keep-Alive",
    }
    # setChunkedStreamingMode(0): no Content-Length, the gzip stream in chunks as written.
    chunks = iter([compressed[:10], compressed[10:]])
    status, answer = _send(live_micro_server, "POST", "/v1/b", chunks, headers)
    assert status == 200, answer
    sent = "2026-12-04T16:40:01.250000+00:00"
    assert _verdicts(live_micro_server, shop.id, 3) == {
        ids[0]: ("track", "Order Completed", "valid", "analytics-kotlin", sent),
        ids[1]: ("identify", "identify", "invalid", "analytics-kotlin", sent),
        ids[2]: ("screen", "Home", "valid", "analytics-kotlin", sent),
    }


def test_analytics_react_native_batch(live_micro_server, shop):
    message_id = str(uuid.uuid4())
    event = {
        "type": "track",
        "event": "Order Completed",
        "properties": {"revenue": 1},
        "messageId": message_id,
        "anonymousId": "rn-anon",
        "timestamp": "2026-12-04T16:40:00.789Z",
        "context": {"library": {"name": "analytics-react-native", "version": "2.24.1"}},
        "integrations": {},
    }
    body = json.dumps(
        {"batch": [event], "sentAt": SENT_AT, "writeKey": shop.write_key}, separators=(",", ":")
    ).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "okhttp/4.9.2"}
    status, answer = _send(live_micro_server, "POST", "/v1/b", body, headers)
    assert status == 200, answer
    assert _verdicts(live_micro_server, shop.id, 1)[message_id][:4] == (
        "track",
        "Order Completed",
        "valid",
        "analytics-react-native",
    )


@pytest.mark.parametrize(
    "headers",
    [
        {  # analytics-swift HTTPClient.configuredRequest
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "analytics-ios/1.9.4",
            "Accept-Encoding": "gzip",
        },
        {  # analytics-kotlin RequestFactory.settings
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "analytics-kotlin/1.24.1",
        },
        {"Cache-Control": "no-cache"},  # analytics-react-native fetchSettings
    ],
    ids=["swift", "kotlin", "react-native"],
)
def test_mobile_settings_fetch(live_micro_server, shop, headers):
    host = urlsplit(live_micro_server.url).netloc
    status, answer = _send(
        live_micro_server, "GET", f"/v1/projects/{shop.write_key}/settings", None, headers
    )
    assert status == 200
    settings = json.loads(answer)
    # The mobile SDKs then post to https://<apiHost>/b: this service's /v1 as they reached it.
    assert settings["integrations"]["Segment.io"] == {
        **settings["integrations"]["Segment.io"],
        "apiKey": shop.write_key,
        "apiHost": f"{host}/v1",
    }
    status, _ = _send(live_micro_server, "GET", "/v1/projects/nope/settings", None, headers)
    # Not 2xx: analytics-swift (`statusCode > 300`), analytics-kotlin (`!= HTTP_OK`) and
    # analytics-react-native (checkResponseForErrors) fall back to their default settings.
    assert status == 404
