"""Priorities within the `emails` queue: account mail (a person waits for the code) leaves
before alerts, and alerts before digests, whatever order they were queued in. Real Redis, a
real worker on the `emails` queue, a real SMTP sink."""

from __future__ import annotations

import pytest

from app.services.accounts import users as accounts
from app.services.alerts import Mail
from app.tasks.alerts import queue_mail
from app.tasks.emails import SIGN_UP, send_account_mail
from celery_config import ALERT_PRIORITY, DIGEST_PRIORITY
from stack.servers import start_worker, stop_process_group
from tests.support.profiles import flush_redis, full_env


@pytest.mark.system  # starts a process in its own body
def test_account_mail_overtakes_alerts_and_digests(
    full_app, service_root, redis_server, postgres_server, smtp_sink, tmp_path
):
    flush_redis(redis_server)
    with full_app.app_context():
        for n in range(3):
            queue_mail(Mail(["o@example.com"], f"digest {n}", "t", "<p>t</p>", DIGEST_PRIORITY))
        queue_mail(Mail(["o@example.com"], "alert", "t", "<p>t</p>", ALERT_PRIORITY))
        accounts.sign_up("new@example.com", "a good long password")
        send_account_mail.delay("new@example.com", SIGN_UP)  # as sign-up does
    env = {**full_env(service_root, redis_server, postgres_server), "SMTP_URL": smtp_sink.url}
    worker = start_worker(env, tmp_path / "emails.log", "emails", concurrency=1).pid
    try:
        mails = smtp_sink.wait_for(5)
    finally:
        stop_process_group(worker, timeout=30)
    subjects = [m["Subject"] for m in mails]
    assert subjects[0].startswith("Your Live Validation code: ")
    assert subjects[1:] == ["alert", "digest 0", "digest 1", "digest 2"]
