"""analytics-node (npm @segment/analytics-node 3.1.0) run by `node` against a running service.

Per its source, src/plugins/segmentio/publisher.ts: `POST ${host}${path}` (path default
`/v1/batch`) with `Authorization: Basic base64(writeKey:)`, `Content-Type: application/json`,
`User-Agent: analytics-node-next/latest` and `{batch, sentAt}`; `flushAt` events make a batch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid

from stack.servers import wait_until
from tests.helpers import SDK_PLAN
from tests.sdk.helpers import JS_DIR, stored_events
from tests.support.profiles import add_app

SCRIPT = JS_DIR / "send_with_analytics_node.js"


def test_a_batch_from_analytics_node_is_stored_with_its_verdicts(
    live_micro_server, worker, node_modules
):
    node = shutil.which("node")
    assert node, "node is missing: run `bash stack/install-system-packages.sh`"
    shop = add_app(live_micro_server.app, f"node-{uuid.uuid4().hex[:8]}", SDK_PLAN).app
    done = subprocess.run(
        [node, str(SCRIPT), live_micro_server.url, shop.write_key],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout)

    wait_until(lambda: len(stored_events(live_micro_server.app, shop.id)) == 4, 30, "4 events")
    rows = {e.message_id: e for e in stored_events(live_micro_server.app, shop.id)}
    assert {
        call: (rows[i].type, rows[i].event_name, rows[i].status) for call, i in ids.items()
    } == {
        "track": ("track", "Order Completed", "valid"),
        "bad_track": ("track", "Order Completed", "invalid"),
        "identify": ("identify", "identify", "valid"),
        "page": ("page", "Pricing", "valid"),
    }
    assert {(r.library_name, r.app_version) for r in rows.values()} == {
        ("@segment/analytics-node", "2.3.1")
    }
    assert len({r.received_at for r in rows.values()}) == 1  # one request: one batch
