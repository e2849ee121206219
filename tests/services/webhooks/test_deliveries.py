"""Webhook deliveries against a real local HTTP sink: signed as documented, retried with
backoff on 5xx and 429 (Retry-After honoured), failed at once on other 4xx and redirects, given
up after the last attempt, swept again after a worker died mid-attempt, refused for private
addresses in deny mode, and pruned to the newest 200."""

from __future__ import annotations

import json
import ssl
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import ServiceError
from app.extensions import db
from app.local_tls import ensure_certificates
from app.models import TrackedApp, Webhook, WebhookDelivery
from app.models.types import utcnow
from app.services.webhooks import deliveries, hooks
from app.services.webhooks.deliveries import DELIVERED, FAILED, PENDING
from app.tasks.webhooks import (
    deliver_webhook,
    queue_deliveries,
    start_senders,
    sweep_webhook_deliveries,
)
from stack.servers import free_port, wait_until
from tests.helpers import broker_messages, message_args
from tests.services.webhooks.helpers import (
    PUBLIC_URL,
    Clock,
    app_with_webhook,
    documented_verify,
    recorded_test,
    row,
    settings,
)
from tests.support.http_sink import HttpSink, Reply


def attempt(flask_app, delivery_id: int, clock: Clock | None = None, **changes):
    with flask_app.app_context():
        if clock is None:
            return deliveries.attempt(delivery_id, settings(**changes))
        return deliveries.attempt(delivery_id, settings(**changes), clock)


def test_a_json_delivery_is_signed_and_the_documented_snippet_verifies_it(micro_app, http_sink):
    app_id, hook_id, secret = app_with_webhook(micro_app, http_sink.url + "/hooks/lvd?team=qa")
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    assert attempt(micro_app, delivery_id).state == DELIVERED

    (request,) = http_sink.wait_for(1)
    assert request.path == "/hooks/lvd?team=qa"
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "LiveValidationDashboard-Webhooks/1"
    assert headers["X-LVD-Event"] == "test"
    assert headers["X-LVD-Delivery"] == str(delivery_id)
    assert abs(int(headers["X-LVD-Timestamp"]) - utcnow().timestamp()) < 60
    body = json.loads(request.body)
    assert body["type"] == "test" and body["delivery_id"] == delivery_id
    assert body["app"] == {"id": app_id, "name": "shop", "url": f"{PUBLIC_URL}/apps/{app_id}"}
    assert body["test"]["link"] == f"{PUBLIC_URL}/apps/{app_id}"
    assert request.body == row(micro_app, delivery_id).body.encode()  # sent as recorded

    verify = documented_verify()
    assert verify(secret, headers, request.body)
    assert not verify(secret, headers, request.body.replace(b'"shop"', b'"shoq"'))
    assert not verify("another secret", headers, request.body)
    old = {**headers, "X-LVD-Timestamp": str(int(headers["X-LVD-Timestamp"]) - 3600)}
    assert not verify(secret, old, request.body)  # a replay an hour later


def test_a_500_is_retried_with_backoff_then_delivered(micro_app, http_sink):
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    http_sink.answer(Reply(500, body=b"database down"), 503, 200)
    clock = Clock(utcnow())

    first = attempt(micro_app, delivery_id, clock, retry_base=30)
    assert (first.state, first.retry_in) == (PENDING, 30)
    after_first = row(micro_app, delivery_id)
    assert after_first.next_attempt_at == clock.now + timedelta(seconds=30)
    assert (after_first.attempts, after_first.response_status) == (1, 500)
    assert after_first.error == "HTTP 500: database down"
    clock.move(29)
    assert attempt(micro_app, delivery_id, clock, retry_base=30) is None  # not yet due
    clock.move(1)
    assert attempt(micro_app, delivery_id, clock, retry_base=30).retry_in == 60  # doubled
    clock.move(60)
    assert attempt(micro_app, delivery_id, clock, retry_base=30).state == DELIVERED

    done = row(micro_app, delivery_id)
    assert (done.state, done.attempts, done.response_status, done.error) == (
        DELIVERED,
        3,
        200,
        None,
    )
    assert done.delivered_at == clock.now and done.next_attempt_at is None
    requests = http_sink.wait_for(3)
    assert len({r.body for r in requests}) == 1  # the same body each time
    assert len({r.headers["X-LVD-Delivery"] for r in requests}) == 1


def test_a_429_waits_as_long_as_retry_after_says(micro_app, http_sink):
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    http_sink.answer(Reply(429, headers=(("Retry-After", "120"),)), 200)
    clock = Clock(utcnow())
    assert attempt(micro_app, delivery_id, clock, retry_base=1).retry_in == 120
    assert row(micro_app, delivery_id).next_attempt_at == clock.now + timedelta(seconds=120)
    clock.move(119)
    assert attempt(micro_app, delivery_id, clock) is None
    clock.move(1)
    assert attempt(micro_app, delivery_id, clock).state == DELIVERED
    assert len(http_sink.wait_for(2)) == 2


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(400, body=b"no such channel"), "HTTP 400: no such channel"),
        (Reply(404), "HTTP 404"),
        (Reply(302, headers=(("Location", "http://127.0.0.1:1/x"),)), "not followed"),
    ],
)
def test_other_4xx_and_redirects_fail_at_once(micro_app, http_sink, reply, error):
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    http_sink.answer(reply)
    assert attempt(micro_app, delivery_id).state == FAILED
    failed = row(micro_app, delivery_id)
    assert (failed.state, failed.attempts, failed.response_status) == (FAILED, 1, reply.status)
    assert error in failed.error and failed.next_attempt_at is None
    assert attempt(micro_app, delivery_id) is None  # settled: never sent again
    assert len(http_sink.wait_for(1)) == 1


def test_the_last_attempt_that_fails_fails_the_delivery(micro_app, http_sink):
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    http_sink.answer(500, 500, 500)
    clock = Clock(utcnow())
    states = []
    for _ in range(3):
        states.append(attempt(micro_app, delivery_id, clock, max_attempts=3).state)
        clock.move(3600)
    assert states == [PENDING, PENDING, FAILED]
    assert (row(micro_app, delivery_id).attempts, len(http_sink.wait_for(3))) == (3, 3)


def test_no_answer_is_retried(micro_app):
    """Nothing listens on the port: a connection error, retried."""
    app_id, hook_id, _ = app_with_webhook(micro_app, f"http://127.0.0.1:{free_port()}/")
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    outcome = attempt(micro_app, delivery_id)
    assert outcome.state == PENDING
    pending = row(micro_app, delivery_id)
    assert pending.response_status is None and "NewConnectionError" in pending.error


def test_a_worker_killed_mid_attempt_leaves_a_row_the_sweep_sends(micro_app, http_sink):
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    now = utcnow()
    with micro_app.app_context():
        assert deliveries.overdue(now) == [delivery_id]  # recorded, its task not yet run
        # A worker claims the attempt, then dies before posting or recording anything.
        assert deliveries._claim(delivery_id, settings(), now)
        assert deliveries.overdue(now) == []  # its lease holds meanwhile
        lease_over = now + settings().lease + timedelta(seconds=1)
        assert deliveries.overdue(lease_over) == [delivery_id]
    clock = Clock(lease_over)
    assert attempt(micro_app, delivery_id, clock).state == DELIVERED
    assert row(micro_app, delivery_id).attempts == 2
    assert len(http_sink.wait_for(1)) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.20.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_private_addresses_are_refused_on_save_in_deny_mode(micro_app, url):
    with micro_app.app_context():
        app = create_plain_app()
        with pytest.raises(ServiceError) as refused:
            hooks.add(app, "json", url, "deny")
        assert refused.value.code == "private_webhook_address"
        assert db.session.scalar(select(func.count()).select_from(Webhook)) == 0
        hooks.add(app, "json", url, "allow")  # micro and tests allow them


def test_a_private_address_is_refused_at_send_time_too(micro_app, http_sink):
    """Saved while allowed (or a name that resolved elsewhere then): each attempt checks again."""
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    assert attempt(micro_app, delivery_id, private_addresses="deny").state == FAILED
    failed = row(micro_app, delivery_id)
    assert "127.0.0.1, a private or local address" in failed.error
    assert failed.response_status is None
    assert http_sink.requests == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "http:// or https://"),
        ("https://user:pass@example.com/hook", "no user name or password"),
        ("https:///hook", "names a host"),
        ("https://example.com/" + "a" * 2000, "2,000 characters"),
        ("https://exa mple.com/", "no spaces"),
        ("https://example.com:99999/", "not a URL"),
        ("", "1 to 2,000"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(micro_app, url, message):
    with micro_app.app_context():
        with pytest.raises(ServiceError) as refused:
            hooks.add(create_plain_app(), "json", url, "allow")
        assert refused.value.kind == "invalid" and message in refused.value.message


def test_a_webhook_keeps_its_newest_200_deliveries(micro_app, http_sink):
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    ids = [recorded_test(micro_app, app_id, hook_id) for _ in range(205)]
    with micro_app.app_context():
        kept = db.session.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.id)).all()
    assert kept == ids[5:]


def test_a_new_secret_replaces_the_old_one_and_slack_has_none(micro_app, http_sink):
    app_id, hook_id, secret = app_with_webhook(micro_app, http_sink.url)
    with micro_app.app_context():
        app = db.session.get(TrackedApp, app_id)
        new = hooks.regenerate_secret(app, hook_id)
        assert new != secret and len(new) == 43
        slack, no_secret = hooks.add(
            app, "slack", "https://hooks.slack.com/services/T/B/x", "allow"
        )
        assert no_secret is None and slack.secret is None
        with pytest.raises(ServiceError):
            hooks.regenerate_secret(app, slack.id)
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    attempt(micro_app, delivery_id)
    (request,) = http_sink.wait_for(1)
    assert documented_verify()(new, request.headers, request.body)
    assert not documented_verify()(secret, request.headers, request.body)


def create_plain_app() -> TrackedApp:
    from app.services.apps import create_app_record

    return create_app_record("plain", None).app


def test_the_sweep_task_queues_overdue_deliveries_only(micro_app, http_sink):
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    due = recorded_test(micro_app, app_id, hook_id)
    later = recorded_test(micro_app, app_id, hook_id)
    done = recorded_test(micro_app, app_id, hook_id)
    assert attempt(micro_app, done).state == DELIVERED
    with micro_app.app_context():
        db.session.get(WebhookDelivery, later).next_attempt_at = utcnow() + timedelta(hours=1)
        db.session.commit()
        assert sweep_webhook_deliveries.apply().get(disable_sync_subtasks=False) == [due]
    queued = [
        message_args(m)
        for m in broker_messages(micro_app, queue="emails")
        if m["headers"]["task"] == deliver_webhook.name
    ]
    assert queued == [[due]]


def test_a_delivery_whose_workers_all_died_fails_after_its_last_attempt(micro_app, http_sink):
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    now = utcnow()
    two = settings(max_attempts=2)
    with micro_app.app_context():
        for _ in range(2):  # claimed, then the worker dies: twice
            assert deliveries._claim(delivery_id, two, now)
            now += two.lease + timedelta(seconds=1)
        assert not deliveries._claim(delivery_id, two, now)  # no attempt left
        assert deliveries.give_up_unfinished(two, now) == 1
        assert deliveries.overdue(now) == []
    failed = row(micro_app, delivery_id)
    assert failed.state == FAILED and "after 2 attempts" in failed.error
    assert http_sink.requests == []


def test_a_receiver_that_does_not_answer_in_time_is_retried(micro_app, http_sink):
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    http_sink.answer(Reply(200, hang=True))
    assert attempt(micro_app, delivery_id, timeout=0.3).state == PENDING
    http_sink.released.set()
    pending = row(micro_app, delivery_id)
    assert pending.response_status is None and "ReadTimeoutError" in pending.error


def test_a_receiver_that_trickles_its_answer_is_cut_off_after_two_timeouts(micro_app, http_sink):
    # Each header line comes well within the read timeout, so only a deadline on the whole
    # attempt ends it: without one, this receiver holds the worker until it is released.
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    http_sink.answer(Reply(200, trickle=0.05))
    try:
        assert attempt(micro_app, delivery_id, timeout=0.4).state == PENDING
        pending = row(micro_app, delivery_id)
        assert pending.response_status is None and pending.error == "no answer within 0.8 s"
        assert http_sink.cut_off.wait(10)  # the receiver saw the connection go
    finally:
        http_sink.released.set()


def test_a_webhook_removed_while_it_is_posted_to_ends_the_attempt_quietly(micro_app, http_sink):
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    http_sink.answer(Reply(200, hang=True))
    outcome: list = []
    posting = threading.Thread(target=lambda: outcome.append(attempt(micro_app, delivery_id)))
    posting.start()
    try:
        http_sink.wait_for(1)  # the attempt is waiting for its answer
        with micro_app.app_context():
            hooks.remove(db.session.get(TrackedApp, app_id), hook_id)
    finally:
        http_sink.released.set()
        posting.join(30)
    assert outcome == [None]  # nothing left to record (was: StaleDataError from the task)
    with micro_app.app_context():
        assert db.session.get(WebhookDelivery, delivery_id) is None


def test_micro_posts_on_threads_of_its_own_never_on_the_worker(micro_app, http_sink):
    # Micro's one worker also stores every app's events: a receiver that keeps the post waiting
    # must not hold it. queue_deliveries returns at once, no task goes to the broker, and the
    # post happens on a sender thread.
    app_id, hook_id, _ = app_with_webhook(micro_app, http_sink.url)
    delivery_id = recorded_test(micro_app, app_id, hook_id)
    http_sink.answer(Reply(200, hang=True))
    senders = start_senders(micro_app)
    try:
        with micro_app.app_context():
            queue_deliveries([delivery_id])
            queue_deliveries([delivery_id], countdown=5)  # a retry: left to the sweep
        http_sink.wait_for(1)  # posted, and still waiting for its answer
        assert broker_messages(micro_app, queue="emails") == []
        http_sink.released.set()
        wait_until(lambda: row(micro_app, delivery_id).state == DELIVERED, 15, "delivered")
        assert len(http_sink.requests) == 1
    finally:
        http_sink.released.set()
        del micro_app.extensions["webhook_senders"]
        senders.stop()


def test_https_is_verified_for_the_urls_host_while_connecting_to_the_checked_address(
    micro_app, tmp_path, monkeypatch
):
    """The request goes to the address resolved (127.0.0.1) with the certificate checked
    against the URL's host name: trusted and matching is delivered; an untrusted CA or a name
    the certificate does not cover fails the attempt (retried, nothing sent)."""
    tls = ensure_certificates(tmp_path / "tls", ("localhost",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    with HttpSink(context) as sink:
        by_name = f"https://localhost:{sink.port}/hook"
        app_id, hook_id, _ = app_with_webhook(micro_app, by_name)
        untrusted = recorded_test(micro_app, app_id, hook_id)
        assert attempt(micro_app, untrusted).state == PENDING
        assert "CERTIFICATE_VERIFY_FAILED" in row(micro_app, untrusted).error

        monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))  # trust the local CA
        trusted = recorded_test(micro_app, app_id, hook_id)
        assert attempt(micro_app, trusted).state == DELIVERED
        (request,) = sink.wait_for(1)
        assert request.headers["Host"] == f"localhost:{sink.port}"

        with micro_app.app_context():
            app = db.session.get(TrackedApp, app_id)
            by_address = hooks.add(app, "json", f"https://127.0.0.1:{sink.port}/", "allow")[0].id
        wrong_name = recorded_test(micro_app, app_id, by_address)
        assert attempt(micro_app, wrong_name).state == PENDING
        assert "hostname '127.0.0.1' doesn't match 'localhost'" in row(micro_app, wrong_name).error
        assert len(sink.requests) == 1
