"""The `lvd` command against a real service: the micro profile as `make run` starts it
(`python run.py`, its in-process worker), the demo app's keys as its console printed them."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from lvd.api import Api

from stack.servers import free_port
from tests.client.helpers import JUNIT_XSD
from tests.client.live import get, lvd, send, write_json
from tests.helpers import DEMO_PLAN
from tests.support.micro import MicroServer
from tests.support.plan_changes import CASES, A, B

ANNOTATION = re.compile(r"^::(error|warning|notice) file=([^,]*),line=(\d+),title=([^:]*)::(.*)$")


@pytest.fixture(scope="module")
def micro_server(tmp_path_factory) -> Iterator[MicroServer]:
    server = MicroServer(tmp_path_factory.mktemp("lvd") / "data")
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


@pytest.fixture
def service(micro_server):
    """(url, read key, write key, app id) of the demo app."""
    keys = micro_server.keys()
    return micro_server.url, keys["read"], keys["write"], int(keys["app_id"])


def _line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of `path` holding `text`."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_lint_finds_what_is_wrong_with_a_bad_plan_at_its_lines(service, tmp_path):
    url, read_key, _, _ = service
    plan = {
        "events": {
            "OrderCompleted": {
                "description": "An order went through.",
                "type": "object",
                "properties": {
                    "price": {"description": "Total."},
                    "currency": {"type": "string", "enum": ["EUR", "EUR"], "description": "x"},
                },
            },
            "order_completed": {"type": "object"},
        }
    }
    path = tmp_path / "bad.json"
    write_json(path, plan)

    done = lvd(
        "plan",
        "lint",
        str(path),
        "--format",
        "github",
        "--event-names",
        "snake_case",
        url=url,
        key=read_key,
    )
    assert done.returncode == 1, done.stderr
    found = [ANNOTATION.match(line) for line in done.stdout.splitlines()[:-1]]
    assert all(found), done.stdout
    by_rule = {m.group(4): (m.group(1), m.group(2), int(m.group(3))) for m in found}
    assert by_rule["event-name-case"] == ("error", str(path), _line_of(path, '"OrderCompleted"'))
    assert by_rule["property-type-missing"] == ("error", str(path), _line_of(path, '"price"'))
    assert by_rule["enum-duplicate"][2] == _line_of(path, '"currency"') + 4  # the second "EUR"
    assert by_rule["event-description-missing"][:2] == ("warning", str(path))
    assert "event-name-collision" in by_rule  # equal but for case and separators

    text = lvd("plan", "lint", str(path), url=url, key=read_key)
    assert text.returncode == 1
    price_line = _line_of(path, '"price"')
    assert f"{path}:{price_line}: error [property-type-missing]" in text.stdout


def test_lint_warnings_fail_only_with_strict(service, tmp_path):
    url, read_key, _, _ = service
    plan = copy.deepcopy(DEMO_PLAN)
    del plan["events"]["screen_view"]["description"]
    path = write_json(tmp_path / "plan.json", plan)
    assert lvd("plan", "lint", path, url=url, key=read_key).returncode == 0
    strict = lvd("plan", "lint", path, "--strict", "--format", "json", url=url, key=read_key)
    assert strict.returncode == 1
    answer = json.loads(strict.stdout)
    assert answer["errors"] == 0 and answer["warnings"] >= 1
    missing = [f for f in answer["findings"] if f["rule"] == "event-description-missing"]
    assert [(f["path"], f["line"]) for f in missing] == [("/events/screen_view", 63)]


def test_lint_of_a_file_that_is_not_json_points_at_the_line(service, tmp_path):
    url, read_key, _, _ = service
    path = tmp_path / "broken.json"
    path.write_text('{\n  "events": {\n    "a": {,\n  }\n}\n')
    done = lvd("plan", "lint", str(path), "--format", "github", url=url, key=read_key)
    assert done.returncode == 1
    assert done.stdout.startswith(f"::error file={path},line=3,title=invalid-plan::not valid JSON")


def _changed_plan() -> dict:
    """The demo plan with one change of each kind the table below expects."""
    plan = copy.deepcopy(DEMO_PLAN)
    del plan["events"]["screen_view"]  # breaking: event removed
    purchase = plan["events"]["purchase"]
    purchase["required"].append("items")  # breaking: new required property
    purchase["properties"]["currency"]["pattern"] = "^(EUR|USD)$"  # breaking: pattern changed
    login = plan["events"]["user_login"]["properties"]
    login["method"]["enum"].append("github")  # additive: enum widened
    plan["events"]["app_opened"] = {"type": "object", "description": "Cold start."}  # additive
    return plan


def test_diff_classifies_each_change_and_fails_on_breaking(service, tmp_path):
    url, read_key, _, _ = service
    path = write_json(tmp_path / "plan.json", _changed_plan())
    done = lvd("plan", "diff", path, "--against", "1", "--format", "json", url=url, key=read_key)
    assert done.returncode == 1, done.stderr
    answer = json.loads(done.stdout)
    kinds = {(c["kind"], c["event"]) for c in answer["changes"]}
    assert ("breaking", "screen_view") in kinds
    assert ("breaking", "purchase") in kinds
    assert ("additive", "user_login") in kinds
    assert ("additive", "app_opened") in kinds
    rules = {c["rule"] for c in answer["changes"]}
    assert "event-removed" in rules
    assert answer["against_version"] == 1
    assert answer["breaking"] >= 3 and answer["additive"] >= 2
    assert all(c["file"] == path and c["line"] >= 1 for c in answer["changes"])

    never = lvd("plan", "diff", path, "--against", "1", "--fail-on", "never", url=url, key=read_key)
    assert never.returncode == 0
    assert never.stdout.splitlines()[0] == "Changes against version 1:"
    github = lvd(
        "plan", "diff", path, "--against", "1", "--format", "github", url=url, key=read_key
    )
    levels = [ANNOTATION.match(line).group(1) for line in github.stdout.splitlines()[:-1]]
    assert levels.count("error") == answer["breaking"]
    assert levels.count("notice") == answer["additive"]


def test_diff_of_additive_changes_only_passes_unless_fail_on_any(service, tmp_path):
    url, read_key, _, _ = service
    plan = copy.deepcopy(DEMO_PLAN)
    plan["events"]["app_opened"] = {"type": "object", "description": "Cold start."}
    path = write_json(tmp_path / "plan.json", plan)
    assert lvd("plan", "diff", path, "--against", "1", url=url, key=read_key).returncode == 0
    done = lvd("plan", "diff", path, "--against", "1", "--fail-on", "any", url=url, key=read_key)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == "0 breaking, 1 additive (against version 1)"


def test_push_saves_a_version_the_api_then_shows(service, tmp_path):
    url, read_key, _, app_id = service
    plan = copy.deepcopy(DEMO_PLAN)
    plan["events"]["app_opened"] = {"type": "object", "description": "Cold start."}
    path = write_json(tmp_path / "plan.json", plan)

    draft = lvd("plan", "push", path, url=url, key=read_key)
    assert draft.returncode == 0, draft.stderr
    version = int(re.search(r"plan version (\d+) \(draft\)", draft.stdout).group(1))
    saved = get(url, read_key, f"/api/apps/{app_id}/plan/versions/{version}")
    assert (saved["status"], saved["plan"]) == ("draft", plan)

    published = lvd("plan", "push", path, "--publish", url=url, key=read_key)
    assert published.returncode == 0, published.stderr
    assert f"plan version {version + 1} (published)" in published.stdout
    current = get(url, read_key, f"/api/apps/{app_id}/plan")
    assert (current["version"], current["plan"]) == (version + 1, plan)
    # Against the published version (the default) the same file has nothing to say.
    again = lvd("plan", "diff", path, url=url, key=read_key)
    assert again.returncode == 0
    assert again.stdout.strip() == f"0 breaking, 0 additive (against version {version + 1})"


EXPECTATIONS = """\
expect:
  - event: purchase
    min: 1
    max: 2
    properties:
      currency: {const: EUR}
  - event: user_login
forbid: [debug_event]
order: [user_login, purchase]
"""


def test_run_wait_passes_a_run_that_meets_its_expectations(service, tmp_path):
    url, read_key, write_key, _ = service
    expectations = tmp_path / "expect.yaml"
    expectations.write_text(EXPECTATIONS)
    send(
        url,
        write_key,
        "ci-pass",
        [
            {"eventName": "user_login", "userId": 7, "timestamp": "2026-12-04T10:00:00Z"},
            {
                "eventName": "purchase",
                "price": 9.5,
                "currency": "EUR",
                "timestamp": "2026-12-04T10:00:01Z",
            },
        ],
    )
    junit, summary = tmp_path / "lvd.xml", tmp_path / "summary.md"
    done = lvd(
        "run",
        "wait",
        "ci-pass",
        "--expect",
        str(expectations),
        "--junit",
        str(junit),
        "--markdown",
        str(summary),
        "--timeout",
        "60",
        url=url,
        key=read_key,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "Test run ci-pass: PASSED"
    JUNIT_XSD.validate(str(junit))
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0"
    assert int(suite.get("tests")) >= 5  # settlement, 2 expected events, forbid, order, …
    assert summary.read_text().startswith("### ✅ Test run ci\\-pass: PASSED")


def test_run_wait_fails_a_run_that_misses_them(service, tmp_path):
    url, read_key, write_key, _ = service
    expectations = tmp_path / "expect.yaml"
    expectations.write_text(EXPECTATIONS)
    set_first = lvd("run", "expect", "ci-fail", str(expectations), url=url, key=read_key)
    assert set_first.returncode == 0, set_first.stderr
    assert set_first.stdout.strip() == "Expectations set for test run ci-fail"
    send(
        url,
        write_key,
        "ci-fail",
        [
            {
                "eventName": "purchase",
                "price": 9.5,
                "currency": "USD",
                "timestamp": "2026-12-04T10:00:00Z",
            },
            {"eventName": "user_login", "userId": "seven", "timestamp": "2026-12-04T10:00:01Z"},
            {"eventName": "debug_event", "timestamp": "2026-12-04T10:00:02Z"},
        ],
    )
    junit = tmp_path / "lvd.xml"
    done = lvd(
        "run",
        "wait",
        "ci-fail",
        "--junit",
        str(junit),
        "--format",
        "json",
        "--close",
        url=url,
        key=read_key,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    assert (answer["verdict"], answer["exit_code"]) == ("FAILED", 1)
    assert answer["report"]["closed_at"] is not None
    JUNIT_XSD.validate(str(junit))
    suite = ET.parse(junit).getroot()
    failed = {
        (case.get("classname"), case.find("failure").get("type"))
        for case in suite.iter("testcase")
        if case.find("failure") is not None
    }
    assert ("expectations", "properties") in failed  # currency is USD
    assert ("expectations", "order") in failed  # purchase came first
    assert ("expectations", "absent") in failed  # debug_event was sent
    assert ("user_login", "invalid") in failed  # userId is not an integer
    assert ("debug_event", "unplanned") in failed


def test_run_wait_errors_exit_3(service, tmp_path):
    url, read_key, _, _ = service
    unknown = lvd("run", "wait", "never-sent", "--timeout", "5", url=url, key=read_key)
    assert unknown.returncode == 3
    assert "knows no test run 'never-sent'" in unknown.stderr
    wrong_key = lvd("run", "wait", "ci-pass", url=url, key="not-a-key")
    assert wrong_key.returncode == 3
    assert "refused the key (401" in wrong_key.stderr
    nobody = lvd("plan", "push", "x.json", url=f"http://127.0.0.1:{free_port()}", key=read_key)
    assert nobody.returncode == 3
    assert "cannot read the file" in nobody.stderr  # the file is read before any request
    missing = lvd("plan", "lint", "missing.json", url=url, key=read_key)
    assert missing.returncode == 3 and "cannot read the file" in missing.stderr
    path = write_json(tmp_path / "plan.json", DEMO_PLAN)
    nobody = lvd("plan", "push", path, url=f"http://127.0.0.1:{free_port()}", key=read_key)
    assert nobody.returncode == 3
    assert "cannot reach the service at http://127.0.0.1:" in nobody.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("expect:\n  - event: purchase\n    min: lots\n")
    refused = lvd("run", "expect", "ci-bad", str(bad), url=url, key=read_key)
    assert refused.returncode == 3
    assert refused.stderr.startswith(f"lvd: error: {bad}: ")
    assert "min" in refused.stderr  # the service names the field at fault


def test_diff_impact_counts_the_stored_events_that_would_change(service, tmp_path):
    url, read_key, write_key, _ = service
    # Only this test sends screen_view events: 2 of 3 stay valid under the draft's enum.
    send(
        url,
        write_key,
        "impact",
        [
            {"eventName": "screen_view", "screen_name": "home", "n": 1},
            {"eventName": "screen_view", "screen_name": "home", "n": 2},  # not a duplicate
            {"eventName": "screen_view", "screen_name": "cart", "n": 3},
        ],
    )
    stored = lvd("run", "wait", "impact", "--timeout", "60", url=url, key=read_key)
    assert stored.returncode == 0, stored.stdout + stored.stderr
    draft = copy.deepcopy(DEMO_PLAN)
    draft["events"]["screen_view"]["properties"]["screen_name"]["enum"] = ["home"]
    path = write_json(tmp_path / "draft.json", draft)

    done = lvd(
        "plan",
        "diff",
        path,
        "--against",
        "1",
        "--impact",
        "1",
        "--format",
        "json",
        "--fail-on",
        "never",
        url=url,
        key=read_key,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    job = json.loads(done.stdout)["impact"]
    assert job["state"] == "done"
    screen = next(e for e in job["result"]["by_event"] if e["event_name"] == "screen_view")
    assert (screen["events"], screen["changed"], screen["newly_invalid"]) == (3, 1, 1)
    assert [(r["rule"], r["path"], r["gained"]) for r in screen["rules"]] == [
        ("enum", "/properties/screen_name", 1)
    ]
    [example] = screen["examples"]
    assert (example["before"], example["after"]) == ("valid", "invalid")

    text = lvd(
        "plan",
        "diff",
        path,
        "--against",
        "1",
        "--impact",
        "1",
        "--fail-on",
        "never",
        url=url,
        key=read_key,
    )
    assert "  screen_view: 1 of 3 events would change (1 newly invalid" in text.stdout
    assert f"      e.g. event #{example['id']} valid → invalid: /properties/screen_name" in (
        text.stdout
    )


@pytest.fixture
def fresh_micro(tmp_path) -> Iterator[MicroServer]:
    """A micro server of its own whose long-polls are capped at 3 s (TASK_WAIT_MAX_SECONDS)."""
    server = MicroServer(tmp_path / "data")
    server.env["TASK_WAIT_MAX_SECONDS"] = "3"
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


def test_run_wait_asks_within_a_lower_wait_cap(fresh_micro):
    keys = fresh_micro.keys()
    url = fresh_micro.url
    send(url, keys["write"], "capped", [{"eventName": "user_login", "userId": 1}])
    done = lvd("run", "wait", "capped", "--timeout", "20", url=url, key=keys["read"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Test run capped: PASSED")


def test_the_service_classifies_every_change_of_the_table_both_ways(service):
    """The client's own calls (lvd.api), in process for speed, against the running service:
    each plan change of the shared table saved as a version, then diffed from the other side
    (the `lvd plan diff --against` request), in both directions."""
    url, read_key, _, app_id = service
    api = Api(url, read_key)

    def saved(plan: dict) -> int:
        return api.push(app_id, json.dumps(plan), publish=False)["version"]

    for old, new, forward, backward, path, prop_name in CASES:
        for before, after, (rule, kind) in ((old, new, forward), (new, old, backward)):
            answer = api.diff(app_id, json.dumps(after), against=saved(before))
            found = [(c["rule"], c["kind"], c["path"], c["property"]) for c in answer["changes"]]
            assert found == [(rule, kind, path, prop_name)], (before, after)
            assert answer[kind] == 1 and answer[B if kind == A else A] == 0
