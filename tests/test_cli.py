"""The admin command line: apps create/list/rotate-key, plan set/show, and what the commands
print when there is nothing to show."""

import json
import re
from pathlib import Path

import pytest

from app.services.storage.events import store_events
from tests.dashboard.helpers import csrf_token, sign_up_and_verify
from tests.helpers import DEMO_PLAN, queued_message


@pytest.fixture
def plan_file(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(DEMO_PLAN))
    return path


def create(flask_app, name, plan_file=None):
    args = ["apps", "create", name, "--json"] + (["--plan", str(plan_file)] if plan_file else [])
    result = flask_app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_apps_create_prints_the_contract_keys(any_app, plan_file):
    created = create(any_app, "shop", plan_file)
    assert set(created) == {"id", "name", "write_key", "read_key", "plan_version"}
    assert created["name"] == "shop" and created["plan_version"] == 1
    assert len(created["write_key"]) >= 32  # 128 bits or more, hex
    assert created["read_key"] != created["write_key"]
    assert create(any_app, "bare")["plan_version"] is None
    plain = any_app.test_cli_runner().invoke(args=["apps", "create", "plain"]).stdout
    assert plain.startswith("app 3 'plain' (no plan yet)\n")


def test_each_key_works_for_its_own_app_only(any_app, plan_file):
    shop, blog = create(any_app, "shop", plan_file), create(any_app, "blog", plan_file)
    client = any_app.test_client()
    message = queued_message(any_app, shop["write_key"], {"eventName": "user_login"})
    with any_app.app_context():
        store_events([message])

    def events(app_id, read_key):
        return client.get(
            f"/api/apps/{app_id}/events", headers={"Authorization": f"Bearer {read_key}"}
        )

    assert events(shop["id"], shop["read_key"]).status_code == 200
    assert len(events(shop["id"], shop["read_key"]).json["events"]) == 1
    assert events(shop["id"], blog["read_key"]).status_code == 404
    assert events(blog["id"], blog["read_key"]).json["events"] == []
    assert events(shop["id"], shop["write_key"]).status_code == 401
    task = client.get(
        f"/api/tasks/{message['task_id']}", headers={"Authorization": f"Bearer {blog['read_key']}"}
    )
    assert task.status_code == 404


def test_apps_list_and_plan_set_and_show(any_app, plan_file, tmp_path):
    create(any_app, "shop", plan_file)
    runner = any_app.test_cli_runner()
    listed = [
        json.loads(line)
        for line in runner.invoke(args=["apps", "list", "--json"]).output.splitlines()
    ]
    assert [(a["name"], a["plan_version"]) for a in listed] == [("shop", 1)]

    new_plan = tmp_path / "v2.json"
    new_plan.write_text(json.dumps({"events": {"signup": {"type": "object"}}}))
    result = runner.invoke(args=["plan", "set", "shop", str(new_plan)])
    assert result.exit_code == 0 and "plan version 2 published" in result.output
    shown = json.loads(runner.invoke(args=["plan", "show", "shop"]).output)
    assert list(shown["events"]) == ["signup"]

    draft = runner.invoke(args=["plan", "set", "shop", str(plan_file), "--draft"])
    assert "plan version 3 draft" in draft.output
    assert list(json.loads(runner.invoke(args=["plan", "show", "shop"]).output)["events"]) == [
        "signup"
    ]


@pytest.mark.parametrize(
    "content, complaint",
    [
        ("{not json", "Expecting"),
        ('{"events": []}', "events"),
        ('{"events": {"e": {"type": "nonsense"}}}', "'e'"),
        ('{"events": {"e": {"properties": {"c": {"pattern": "(a)\\\\1"}}}}}', "backreference"),
        ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ],
)
def test_a_bad_plan_file_is_refused_with_a_message(any_app, tmp_path, content, complaint):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = any_app.test_cli_runner().invoke(args=["apps", "create", "x", "--plan", str(bad)])
    assert result.exit_code != 0
    assert complaint in result.output
    listed = any_app.test_cli_runner().invoke(args=["apps", "list"]).output
    assert listed == "No apps.\n"  # nothing was created


def test_plan_set_refuses_a_pattern_the_linear_engine_cannot_run(any_app, plan_file, tmp_path):
    create(any_app, "shop", plan_file)
    bad = tmp_path / "lookahead.json"
    bad.write_text(json.dumps({"events": {"e": {"properties": {"p": {"pattern": "^(?!x)"}}}}}))
    result = any_app.test_cli_runner().invoke(args=["plan", "set", "shop", str(bad)])
    assert result.exit_code != 0
    assert "uses lookahead, a construct the linear-time" in result.output
    shown = any_app.test_cli_runner().invoke(args=["plan", "show", "shop"]).output
    assert json.loads(shown) == DEMO_PLAN  # the published plan is unchanged


def test_rotate_key_retires_the_old_write_key(any_app, plan_file):
    shop = create(any_app, "shop", plan_file)
    result = any_app.test_cli_runner().invoke(args=["apps", "rotate-key", "shop"])
    new_key = result.output.split()[-1]
    client = any_app.test_client()
    assert client.post(f"/api/logs/{shop['write_key']}", json={"eventName": "a"}).status_code == 401
    assert client.post(f"/api/logs/{new_key}", json={"eventName": "a"}).status_code == 202


def test_empty_lists_say_so_and_their_json_prints_nothing(micro_app):
    runner = micro_app.test_cli_runner()
    for args, line in [
        (["dead-letters", "list"], "No pending dead letters.\n"),
        (["dead-letters", "list", "--all"], "No dead letters.\n"),
        (["jobs", "list"], "No jobs.\n"),
        (["apps", "list"], "No apps.\n"),
    ]:
        assert runner.invoke(args=args).stdout == line, args
        assert runner.invoke(args=[*args, "--json"]).stdout == "", args


def test_replaying_an_id_that_is_not_pending_is_an_error(micro_app):
    result = micro_app.test_cli_runner().invoke(args=["dead-letters", "replay", "7"])
    assert result.exit_code == 1 and "no pending dead letter 7" in result.output


def test_the_documented_example_files_load(micro_app):
    """docs/ runs the admin command on these files: they must stay valid plans and events."""
    examples = Path(__file__).resolve().parents[1] / "docs" / "examples"
    runner = micro_app.test_cli_runner()
    created = runner.invoke(args=["apps", "create", "shop", "--plan", str(examples / "plan.json")])
    assert created.exit_code == 0, created.output
    again = runner.invoke(args=["plan", "set", "shop", str(examples / "plan-v2.json")])
    assert again.stdout == "app 1 plan version 2 published\n", again.output
    imported = runner.invoke(args=["jobs", "import", "shop", str(examples / "events.ndjson")])
    assert imported.exit_code == 0, imported.output
    shown = json.loads(runner.invoke(args=["jobs", "show", imported.stdout, "--json"]).stdout)
    assert shown["total"] == 5


def test_apps_set_owner_gives_an_app_to_an_account(any_app):
    """`apps set-owner` (the way to give the demo app, or any app, to an account)."""
    client = any_app.test_client()
    sign_up_and_verify(client, any_app, "owner@example.com")
    shop = create(any_app, "shop")
    assert f'href="/apps/{shop["id"]}"' not in client.get("/apps").get_data(as_text=True)
    runner = any_app.test_cli_runner()

    result = runner.invoke(args=["apps", "set-owner", "shop", "Owner@Example.com", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "id": shop["id"],
        "name": "shop",
        "owner": "owner@example.com",
    }
    assert client.get(f"/apps/{shop['id']}/live").status_code == 200

    plain = runner.invoke(args=["apps", "set-owner", str(shop["id"]), "owner@example.com"])
    assert plain.output == f"app {shop['id']} 'shop' now belongs to owner@example.com\n"


def test_apps_pii_policy_applies_to_the_next_event(micro_app, plan_file):
    """`apps pii-policy`: the policy the app page sets (docs/pii.md)."""
    shop = create(micro_app, "shop", plan_file)
    runner = micro_app.test_cli_runner()
    result = runner.invoke(args=["apps", "pii-policy", "shop", "fail"])
    assert result.output == f"app {shop['id']} 'shop': PII policy fail\n", result.output
    event = {"eventName": "user_login", "userId": 1, "note": "ann@example.com"}
    answer = micro_app.test_client().post(f"/api/logs/{shop['write_key']}", json=event)
    assert answer.json["status"] == "invalid" and answer.json["errors"][-1]["rule"] == "pii"
    refused = runner.invoke(args=["apps", "pii-policy", "shop", "loud"])
    assert refused.exit_code == 2 and "'loud' is not one of" in refused.output


@pytest.mark.parametrize(
    ("app_ref", "email", "message"),
    [
        ("nope", "owner@example.com", "no app with id or name 'nope'"),
        ("shop", "nobody@example.com", "no account with the e-mail address 'nobody@example.com'"),
    ],
)
def test_apps_set_owner_refuses_an_unknown_app_or_account(micro_app, app_ref, email, message):
    sign_up_and_verify(micro_app.test_client(), micro_app, "owner@example.com")
    create(micro_app, "shop")
    result = micro_app.test_cli_runner().invoke(args=["apps", "set-owner", app_ref, email])
    assert result.exit_code == 1
    assert f"Error: {message}" in result.output


def test_apps_create_from_the_demo_template(micro_app, plan_file):
    runner = micro_app.test_cli_runner()
    result = runner.invoke(args=["apps", "create", "shop", "--template", "demo", "--json"])
    assert json.loads(result.output)["plan_version"] == 1
    shown = json.loads(runner.invoke(args=["plan", "show", "shop"]).output)
    assert shown == DEMO_PLAN
    both = runner.invoke(
        args=["apps", "create", "x", "--template", "demo", "--plan", str(plan_file)]
    )
    assert both.exit_code == 2 and "give --plan or --template, not both" in both.output


@pytest.mark.parametrize("name", ["\x00x", "tab\there", "x" * 256])
def test_apps_create_refuses_control_characters_and_long_names(any_app, name):
    result = any_app.test_cli_runner().invoke(args=["apps", "create", name])
    assert result.exit_code == 1
    complaint = "control characters" if len(name) < 256 else "1 to 255 characters"
    assert "Error: An app name" in result.output and complaint in result.output
    assert any_app.test_cli_runner().invoke(args=["apps", "list"]).output == "No apps.\n"


def test_users_create_verified_can_sign_in_at_once(any_app):
    runner = any_app.test_cli_runner()
    env = {"LVD_USER_PASSWORD": "correct horse battery"}
    result = runner.invoke(
        args=["users", "create", "Ops@Example.com", "--verified", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created == {"id": created["id"], "email": "ops@example.com", "verified": True}
    client = any_app.test_client()
    token = csrf_token(client, "/login")
    signed_in = client.post(
        "/login",
        data={
            "email": "ops@example.com",
            "password": env["LVD_USER_PASSWORD"],
            "csrf_token": token,
        },
    )
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/apps")
    again = runner.invoke(args=["users", "create", "ops@example.com"], env=env)
    assert again.exit_code == 1 and "exists" in again.output
    short = runner.invoke(args=["users", "create", "b@example.com"], env={"LVD_USER_PASSWORD": "x"})
    assert short.exit_code == 1 and "at least" in short.output


def test_users_create_unverified_must_confirm_first(any_app):
    runner = any_app.test_cli_runner()
    env = {"LVD_USER_PASSWORD": "correct horse battery"}
    result = runner.invoke(args=["users", "create", "new@example.com"], env=env)
    assert result.exit_code == 0
    assert re.fullmatch(r"account \d+ new@example\.com\n", result.output)
    client = any_app.test_client()
    token = csrf_token(client, "/login")
    answer = client.post(
        "/login",
        data={
            "email": "new@example.com",
            "password": env["LVD_USER_PASSWORD"],
            "csrf_token": token,
        },
    )
    # The password is right, so the answer is "confirm your address first", not a bad login.
    assert answer.status_code == 302 and "/verify" in answer.headers["Location"]


def test_stats_count_and_recount_count_the_stored_events(any_app, plan_file):
    shop = create(any_app, "shop", plan_file)
    with any_app.app_context():
        store_events(
            [
                queued_message(any_app, shop["write_key"], {"eventName": name})
                for name in ("user_login", "purchase")
            ]
        )
    runner = any_app.test_cli_runner()

    def run(*args):
        result = runner.invoke(args=["stats", *args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    run("count")  # a fresh database: the first run may only note where counting starts
    run("count")
    assert run("count")["counted"] == 0  # nothing new since
    recounted = run("recount", "shop", "--hours", "2")
    assert recounted["counted"] == 2 and recounted["seconds"] >= 0
    missing = runner.invoke(args=["stats", "recount", "nope"])
    assert missing.exit_code == 1 and "no app" in missing.output
    for hours in ("20000000", "9" * 20):  # past the calendar's start: refused, not a traceback
        refused = runner.invoke(args=["stats", "recount", "shop", "--hours", hours])
        assert refused.exit_code == 2 and "Invalid value for '--hours'" in refused.output
        assert refused.exception is None or isinstance(refused.exception, SystemExit)


@pytest.mark.parametrize("email", ["not-an-email", "a", "x" * 300 + "@example.com"])
def test_users_create_refuses_what_the_sign_up_page_refuses(micro_app, email):
    runner = micro_app.test_cli_runner()
    result = runner.invoke(args=["users", "create", email, "--password", "a good long password"])
    assert result.exit_code == 1 and "e-mail address" in result.output, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback


def test_a_name_two_apps_share_must_be_given_as_an_id(any_app, plan_file):
    first, second = create(any_app, "shop", plan_file), create(any_app, "shop")
    runner = any_app.test_cli_runner()
    shared = runner.invoke(args=["plan", "show", "shop"])
    ids = f"{first['id']}, {second['id']}"
    assert shared.exit_code == 1
    assert f"several apps are called 'shop' (ids {ids}): use an id" in shared.output
    by_id = runner.invoke(args=["plan", "show", str(first["id"])])
    assert by_id.exit_code == 0 and json.loads(by_id.output) == DEMO_PLAN
