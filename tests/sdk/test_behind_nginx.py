"""The full profile's nginx (nginx/nginx.conf) in front of gunicorn: the settings still send an
SDK back to the address it dialled, port included, and a mobile batch still gets through."""

from __future__ import annotations

import gzip
import json
import urllib.request
import uuid

from stack.servers import wait_until
from tests.helpers import SDK_PLAN, count_events
from tests.support.nginx import fetch, port_of
from tests.support.profiles import add_app


def test_settings_and_a_gzipped_batch_through_nginx(
    full_app, gunicorn_url, celery_worker, start_proxy
):
    shop = add_app(full_app, plan=SDK_PLAN).app
    nginx = start_proxy(port_of(gunicorn_url))
    # A client's own X-Forwarded-Proto is overwritten by nginx's ($scheme).
    status, _, settings = fetch(
        f"{nginx.url}/v1/projects/{shop.write_key}/settings", headers={"X-Forwarded-Proto": "https"}
    )
    assert status == 200
    segment = settings["integrations"]["Segment.io"]
    host = nginx.url.removeprefix("http://")  # 127.0.0.1:<nginx's port>: the port is kept
    assert (segment["apiHost"], segment["protocol"]) == (f"{host}/v1", "http")

    # As analytics-kotlin posts to https://<apiHost>/b (see test_mobile_replay.py).
    message_id = str(uuid.uuid4())
    body = {
        "batch": [{"type": "track", "event": "Order Completed", "properties": {"revenue": 2}}],
        "sentAt": "2026-12-04T16:40:01.250Z",
        "writeKey": shop.write_key,
    }
    body["batch"][0]["messageId"] = message_id
    request = urllib.request.Request(
        f"http://{segment['apiHost']}/b",
        data=gzip.compress(json.dumps(body).encode()),
        headers={
            "Content-Type": "text/plain",
            "Content-Encoding": "gzip",
            "User-Agent": "analytics-kotlin/1.24.1",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert json.loads(response.read())["counts"]["valid"] == 1
    wait_until(
        lambda: count_events(full_app, message_id=message_id, status="valid") == 1, 30, "the event"
    )
