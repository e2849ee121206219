"""The app page's Webhooks section: add a json webhook (its secret shown once) or a Slack one
(its URL masked), send a test (queued, pending, then delivered in the log once the queued task
ran against a local HTTP sink), a new secret, remove; bad URLs and missing CSRF tokens refused;
another user's webhook is a 404 whatever app id it is asked under."""

from __future__ import annotations

import re

from app.tasks.webhooks import deliver_webhook
from tests.dashboard.helpers import csrf_token, sign_up_and_verify, submit
from tests.helpers import broker_messages, message_args
from tests.services.webhooks.helpers import documented_verify

SLACK_URL = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"


def new_app(client, name: str = "Shop") -> int:
    page = submit(client, "/apps", {"name": name}).get_data(as_text=True)
    return int(re.search(r'action="/apps/(\d+)/rotate-write-key"', page).group(1))


def signed_in(flask_app, email: str):
    client = flask_app.test_client()
    sign_up_and_verify(client, flask_app, email)
    return client


def add(client, app_id: int, kind: str, url: str) -> str:
    page = f"/apps/{app_id}"
    return submit(client, page, {"kind": kind, "url": url}, action=f"{page}/webhooks").get_data(
        as_text=True
    )


def run_queued_deliveries(flask_app) -> int:
    """Run the queued webhook tasks as a worker would; how many."""
    envelopes = [
        e
        for e in broker_messages(flask_app, queue="emails")
        if e["headers"]["task"] == deliver_webhook.name
    ]
    with flask_app.app_context():
        for envelope in envelopes:
            deliver_webhook.apply(args=message_args(envelope)).get(disable_sync_subtasks=False)
    return len(envelopes)


def log_rows(page: str) -> list[list[str]]:
    """The delivery log's rows as cell texts."""
    log = page[page.index('id="webhook-log"') :]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r'<tr class="delivery"[^>]*>(.*?)</tr>', log, re.S)
    ]


def test_a_json_webhook_shows_its_secret_once_and_a_test_is_delivered(micro_app, http_sink):
    owner = signed_in(micro_app, "owner@example.com")
    app_id = new_app(owner)
    page = add(owner, app_id, "json", http_sink.url + "/receiver")
    secret = re.search(r"\(shown only now\): ([A-Za-z0-9_-]{43})</p>", page).group(1)
    assert http_sink.url + "/receiver" in page  # a json webhook's URL is no secret
    again = owner.get(f"/apps/{app_id}")
    assert secret not in again.get_data(as_text=True)
    assert "Cache-Control" not in again.headers or "no-store" not in again.headers["Cache-Control"]
    hook_id = int(re.search(r'id="webhook-(\d+)"', page).group(1))

    page = submit(owner, f"/apps/{app_id}", {}, action=f"/apps/{app_id}/webhooks/{hook_id}/test")
    text = page.get_data(as_text=True)
    assert "Test message queued" in text
    (row,) = log_rows(text)
    assert row[1:6] == [f"#{hook_id} json", "test", "pending", "0", "—"]
    assert 'src="/static/webhooks.js"' in text  # reloads the log while pending

    assert run_queued_deliveries(micro_app) == 1
    (request,) = http_sink.wait_for(1)
    assert request.path == "/receiver"
    assert documented_verify()(secret, request.headers, request.body)
    fragment = owner.get(f"/apps/{app_id}/webhooks/log").get_data(as_text=True)
    (row,) = log_rows(fragment)
    assert row[1:7] == [f"#{hook_id} json", "test", "delivered", "1", "200", ""]

    # A new secret: shown once, and the next test is signed with it.
    text = submit(
        owner, f"/apps/{app_id}", {}, action=f"/apps/{app_id}/webhooks/{hook_id}/secret"
    ).get_data(as_text=True)
    new_secret = re.search(r"\(shown only now\): ([A-Za-z0-9_-]{43})</p>", text).group(1)
    assert new_secret != secret
    submit(owner, f"/apps/{app_id}", {}, action=f"/apps/{app_id}/webhooks/{hook_id}/test")
    run_queued_deliveries(micro_app)
    second = http_sink.wait_for(2)[1]
    assert documented_verify()(new_secret, second.headers, second.body)

    text = submit(
        owner, f"/apps/{app_id}", {}, action=f"/apps/{app_id}/webhooks/{hook_id}/remove"
    ).get_data(as_text=True)
    assert "Webhook removed." in text and 'class="hook"' not in text
    assert log_rows(text) == []  # its deliveries went with it


def test_a_slack_url_is_shown_masked(micro_app):
    owner = signed_in(micro_app, "owner@example.com")
    app_id = new_app(owner)
    page = add(owner, app_id, "slack", SLACK_URL)
    assert "XXXXXXXX" not in page and "T0000" not in page
    assert "https://hooks.slack.com/services/•••" in page
    assert "shown only now" not in page  # nothing to sign with


def test_bad_urls_and_missing_tokens_are_refused(micro_app):
    owner = signed_in(micro_app, "owner@example.com")
    app_id = new_app(owner)
    page = add(owner, app_id, "json", "ftp://example.com/hook")
    assert "The webhook was not added: A webhook URL starts with http:// or https://." in page
    page = add(owner, app_id, "json", "https://user:secret@example.com/")
    assert "no user name or password" in page and 'class="hook"' not in page
    page = add(owner, app_id, "carrier-pigeon", "https://example.com/")
    assert "The webhook was not added" in page and 'class="hook"' not in page
    answer = owner.post(f"/apps/{app_id}/webhooks", data={"kind": "json", "url": "https://e.x/"})
    assert answer.status_code == 400  # no CSRF token
    assert 'class="hook"' not in owner.get(f"/apps/{app_id}").get_data(as_text=True)


def test_another_users_webhook_is_out_of_reach(micro_app, http_sink):
    owner = signed_in(micro_app, "owner@example.com")
    stranger = signed_in(micro_app, "stranger@example.com")
    app_id = new_app(owner)
    page = add(owner, app_id, "json", http_sink.url)
    hook_id = int(re.search(r'id="webhook-(\d+)"', page).group(1))
    own_app = new_app(stranger, "Mine")
    token = csrf_token(stranger, "/apps")
    for action in ("test", "remove", "secret"):
        # Under the owner's app id, or under the stranger's own app (not its webhook): 404.
        for under in (app_id, own_app):
            answer = stranger.post(
                f"/apps/{under}/webhooks/{hook_id}/{action}", data={"csrf_token": token}
            )
            assert answer.status_code == 404
    assert stranger.get(f"/apps/{app_id}/webhooks/log").status_code == 404
    assert f'id="webhook-{hook_id}"' in owner.get(f"/apps/{app_id}").get_data(as_text=True)
    tasks = [m["headers"]["task"] for m in broker_messages(micro_app, queue="emails")]
    assert deliver_webhook.name not in tasks  # no test was queued


def test_deny_mode_refuses_a_local_receiver_with_the_reason(micro_app, http_sink):
    micro_app.config["WEBHOOK_PRIVATE_ADDRESSES"] = "deny"  # the full profile's default
    owner = signed_in(micro_app, "owner@example.com")
    app_id = new_app(owner)
    page = add(owner, app_id, "json", http_sink.url)
    assert "resolves to 127.0.0.1, a private or local address" in page
    assert 'class="hook"' not in page
