"""The `jobs` admin commands: start a re-validation or an import (the id is printed), list,
show, cancel; `--wait` follows a job through a real worker until it settles."""

from __future__ import annotations

import gzip
import json
import logging

from tests.helpers import DEMO_PLAN
from tests.services.jobs.helpers import raw_event, store_raw_events
from tests.support.profiles import add_app

LINE = b'{"eventName": "user_login", "userId": 1}\n'


def invoke(flask_app, *args: str):
    return flask_app.test_cli_runner().invoke(args=["jobs", *args])


def test_start_list_show_and_cancel(micro_app, tmp_path, caplog):
    new = add_app(micro_app, plan=DEMO_PLAN)
    started = invoke(
        micro_app, "revalidate", "shop", "--plan-version", "1", "--since", "2026-01-01"
    )
    assert started.exit_code == 0, started.output
    revalidation_id = int(started.stdout)
    events = tmp_path / "events.ndjson"
    events.write_bytes(LINE * 3)
    with caplog.at_level(logging.WARNING):
        imported = invoke(micro_app, "import", str(new.app.id), str(events))
    assert imported.exit_code == 0, imported.output
    import_id = int(imported.stdout)
    # Queueing through micro's folder broker names no host, and must not warn that it did not.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("kombu")] == []

    listed = [
        json.loads(line) for line in invoke(micro_app, "list", "shop", "--json").stdout.splitlines()
    ]
    assert [(j["id"], j["kind"], j["state"]) for j in listed] == [
        (import_id, "import", "queued"),
        (revalidation_id, "revalidate", "queued"),
    ]
    plain = invoke(micro_app, "list", "--kind", "import").stdout.splitlines()
    assert len(plain) == 1 and plain[0].startswith(f"job {import_id}\t") and "0/3" in plain[0]
    # A re-validation counts its events once it starts: until then its total is unknown.
    assert invoke(micro_app, "list", "--kind", "revalidate").stdout.endswith("\t0/?\n")
    shown = json.loads(invoke(micro_app, "show", str(import_id), "--json").stdout)
    assert shown["params"]["filename"] == "events.ndjson" and shown["total"] == 3
    assert f"job {revalidation_id}" in invoke(micro_app, "show", str(revalidation_id)).stdout

    cancelled = invoke(micro_app, "cancel", str(import_id))
    assert cancelled.exit_code == 0 and cancelled.stdout == f"job {import_id} cancelled\n"
    again = invoke(micro_app, "cancel", str(import_id))
    assert again.exit_code == 1 and "already cancelled" in again.output
    assert invoke(micro_app, "list", "--state", "cancelled").stdout.count("\n") == 1


def test_bad_arguments_are_refused_with_their_reason(micro_app, tmp_path):
    add_app(micro_app, plan=DEMO_PLAN)
    empty = tmp_path / "empty.ndjson"
    empty.write_bytes(b"")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"events": []}))
    for args, reason in [
        (("revalidate", "shop", "--plan-version", "9"), "no plan version 9"),
        (("revalidate", "shop", "--plan-version", "1", "--version", "1"), "--plan-version only"),
        (("revalidate", "shop"), "give --plan-version or --plan"),
        (("revalidate", "shop", "--plan", str(plan)), "'events'"),
        (("revalidate", "shop", "--version", "1", "--until", "soon"), "ISO 8601"),
        (("revalidate", "nobody", "--version", "1"), "no app"),
        (("import", "shop", str(empty)), "no events"),
        (("show", "999"), "no job 999"),
        (("cancel", "999"), "no job 999"),
    ]:
        result = invoke(micro_app, *args)
        assert result.exit_code != 0 and reason in result.output, (args, result.output)
    assert invoke(micro_app, "list").stdout == "No jobs.\n"


def test_the_old_version_option_still_works_and_says_it_is_deprecated(micro_app):
    add_app(micro_app, plan=DEMO_PLAN)
    result = invoke(micro_app, "revalidate", "shop", "--version", "1")
    assert result.exit_code == 0 and int(result.stdout) > 0
    assert "--version is deprecated: use --plan-version" in result.stderr
    assert "--version" not in invoke(micro_app, "revalidate", "--help").stdout


def test_wait_follows_a_job_until_it_settles(full_app, celery_worker, tmp_path):
    new = add_app(full_app, plan=DEMO_PLAN)
    store_raw_events(full_app, new.app.write_key, [raw_event(i) for i in range(100)])
    result = invoke(full_app, "revalidate", "shop", "--plan-version", "1", "--wait")
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert job["state"] == "done" and job["done"] == 100 and job["result"]["unchanged"] == 100
    assert f"job {job['id']}\tapp {new.app.id}\trevalidate\tdone\t100/100" in result.stderr

    events = tmp_path / "events.ndjson.gz"
    events.write_bytes(gzip.compress(LINE + b"{bad\n"))
    result = invoke(full_app, "import", "shop", str(events), "--wait")
    job = json.loads(result.stdout)
    assert job["state"] == "done" and job["result"]["stored"] == 1
    assert job["result"]["errors"][0]["line"] == 2
