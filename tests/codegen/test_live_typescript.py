"""Generated TypeScript against a running service: for the demo plan and the every-construct
plan, an app is created with the plan (`flask apps create`), `lvd codegen --language typescript`
fetches its code from the micro profile as `make run` starts it (`python run.py`), `tsc --strict`
compiles it with a program that calls each planned event's generated function with an example,
`node` runs that with the real @segment/analytics-node (npm 3.1.0, tests/sdk/js), and the read
API must then show every planned event stored and `valid`. One example broken on purpose (a
rule TypeScript's types cannot say: a pattern, a minimum) must come back `invalid`, so a service
that judged nothing would fail the test.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.codegen import build_model
from stack.servers import wait_until
from tests.client.live import get, lvd
from tests.codegen.helpers import PLAN_FILES, SDK_NODE_MODULES, TSC, load_examples, run_tsc
from tests.support.micro import MicroServer

# The demo plan's purchase with a currency its pattern (^[A-Z]{3}$) refuses: it compiles.
BROKEN = ("purchase", {"price": 1, "currency": "euro"})
USER = {"userId": "codegen-live-test"}


@pytest.fixture(scope="module")
def micro_server(tmp_path_factory) -> Iterator[MicroServer]:
    for needed, how in ((TSC, "tests/codegen/typescript"), (SDK_NODE_MODULES, "tests/sdk/js")):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: run `cd {how} && npm ci` (make test does)")
    server = MicroServer(tmp_path_factory.mktemp("codegen") / "data")
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


def create_app(server: MicroServer, name: str, plan_file: Path) -> dict[str, Any]:
    """A new app with the plan published, as the admin command prints it."""
    return json.loads(server.flask("apps", "create", name, "--plan", str(plan_file), "--json"))


def program(url: str, write_key: str, calls: list[tuple[str, dict[str, Any], str]]) -> str:
    """A TypeScript program that sends each (method, properties, messageId) through the
    generated NodeTracker over a real analytics-node client, then flushes.

    The examples are object literals in the source, so tsc checks each against its event's
    generated type; the host and key are constants (no @types/node for process.argv here)."""
    lines = [
        'import { Analytics } from "@segment/analytics-node";',
        'import { NodeTracker } from "./tracking_plan";',
        "",
        "async function main(): Promise<void> {",
        f"  const analytics = new Analytics({{ writeKey: {json.dumps(write_key)}, "
        f"host: {json.dumps(url)}, flushAt: 50, maxRetries: 0 }});",
        "  const failures: string[] = [];",
        "  analytics.on('error', (error) => failures.push(String(error.reason ?? error)));",
        "  const tracker = new NodeTracker(analytics);",
        f"  const who = {json.dumps(USER)};",
    ]
    for method, properties, message_id in calls:
        extra = json.dumps({"messageId": message_id})
        lines.append(f"  tracker.{method}(who, {json.dumps(properties)}, {extra});")
    lines += [
        "  await analytics.closeAndFlush({ timeout: 20000 });",
        '  if (failures.length > 0) throw new Error(failures.join("; "));',
        "}",
        "",
        "void main();  // a rejection is unhandled: node exits 1 with its message",
        "",
    ]
    return "\n".join(lines)


def checked(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, f"{done.args[0]} failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("plan_name", sorted(PLAN_FILES))
def test_generated_typescript_sends_every_event_valid(micro_server, tmp_path, plan_name):
    plan_file = PLAN_FILES[plan_name]
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    examples = load_examples()[plan_name]
    assert set(examples) == set(plan["events"]), "every planned event needs an example"
    app = create_app(micro_server, f"codegen {plan_name}", plan_file)
    url, read_key = micro_server.url, app["read_key"]

    out = tmp_path / "src"
    done = lvd("codegen", "--language", "typescript", "--out", str(out), url=url, key=read_key)
    assert done.returncode == 0, done.stderr
    files = sorted(path.name for path in out.rglob("*") if path.is_file())
    assert "tracking_plan.ts" in files
    count = f"{len(files)} file{'' if len(files) == 1 else 's'}"
    assert done.stdout == f"wrote {count} to {out} from plan version 1 (typescript)\n"

    # Method names as the generator gives them (any event name has a valid, unique one).
    methods = {event.name: event.names.camel for event in build_model(plan, plan_version=1).events}
    calls = [(methods[name], examples[name], f"ok-{n}") for n, name in enumerate(sorted(methods))]
    if plan_name == "demo_plan.json":
        calls.append((methods[BROKEN[0]], BROKEN[1], "broken"))
    (out / "main.ts").write_text(program(url, app["write_key"], calls), encoding="utf-8")
    # The real SDK, for tsc (its type declarations) and for node alike.
    (out / "node_modules").symlink_to(SDK_NODE_MODULES, target_is_directory=True)
    checked(run_tsc(out, ["main.ts"], outDir="build", skipLibCheck=True))
    node = subprocess.run(
        ["node", "build/main.js"], cwd=out, capture_output=True, text=True, timeout=120
    )
    checked(node)

    path = f"/api/apps/{app['id']}/events?limit=500"
    wait_until(lambda: len(get(url, read_key, path)["events"]) == len(calls), 30, "the events")
    stored = {e["message_id"]: e for e in get(url, read_key, path)["events"]}
    for method, _, message_id in calls:
        event = stored[message_id]
        if message_id == "broken":
            assert event["status"] == "invalid", event
            assert [e["rule"] for e in event["errors"]] == ["pattern"], event["errors"]
        else:
            assert event["status"] == "valid", (method, event["errors"], event["payload"])
    expected_names = set(plan["events"])
    assert {e["event_name"] for e in stored.values()} == expected_names
