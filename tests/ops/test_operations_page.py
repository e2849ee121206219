"""The operations page: queue depths read where the messages wait (Redis lists and the event
stream, or micro's broker folder) and following them as work is queued; the workers that answer
(or that none does, or micro's in-process one); and the signed-in user's own dead letters and
failed jobs, never another user's.

Bad inputs tried: an anonymous visitor (sent to log in); a second user with dead letters and a
failed job of their own, whose event names and errors must not show on the first user's page.
"""

from __future__ import annotations

import re
import socket

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from app.extensions import db
from app.models import Job, TrackedApp
from app.services.ingestion.event_stream import STREAM
from app.services.jobs import revalidation
from celery_config import QUEUES
from stack.servers import start_worker, stop_process_group
from tests.dashboard.helpers import submit
from tests.ops.helpers import dead_letter, owner_with_app
from tests.support.profiles import full_env


def depths(page: str) -> dict[str, int]:
    """{queue: waiting} as the page shows them."""
    return {name: int(n) for name, n in re.findall(r'data-queue="([^"]+)">(\d+)<', page)}


def redis_depths(flask_app: Flask) -> dict[str, int]:
    """The same, read from Redis here (no message of these tests has a priority)."""
    with redis.Redis.from_url(flask_app.config["REDIS_URL"]) as client:
        found = {queue: client.llen(queue) for queue in QUEUES}
        found[STREAM] = client.xlen(STREAM)
    return found


def failed_job(flask_app: Flask, app_id: int, error: str) -> int:
    """A re-validation job of the app that failed with `error`."""
    with flask_app.app_context():
        job = revalidation.create(db.session.get(TrackedApp, app_id), {"plan_version": 1})
        db.session.execute(update(Job).where(Job.id == job.id).values(state="failed", error=error))
        db.session.commit()
        job_id = job.id
        db.session.remove()
    return job_id


def second_app(client: FlaskClient) -> int:
    """Another app of the same user, made through the page; its id."""
    page = submit(client, "/apps", {"name": "Blog"}).get_data(as_text=True)
    return int(re.search(r'action="/apps/(\d+)/rotate-write-key"', page).group(1))


def recount(client: FlaskClient, app_id: int) -> None:
    """Press the overview's "Recount now": one task on batch_processing."""
    overview = f"/apps/{app_id}/overview"
    assert "Recount queued" in submit(client, overview, {}, action=f"{overview}/recount").text


def page_of(client: FlaskClient) -> str:
    response = client.get("/operations")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_log_in(micro_app):
    response = micro_app.test_client().get("/operations")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_micro_counts_the_broker_folder_and_names_the_in_process_worker(micro_app):
    client, shop = owner_with_app(micro_app, "owner@example.com", "Shop")
    page = page_of(client)
    assert "In-process worker" in page and "No worker answered" not in page
    before = depths(page)
    assert set(before) == set(QUEUES)  # micro has no event stream
    for n in range(3):  # micro: one message per request on `default`
        response = client.post(f"/api/logs/{shop.app.write_key}", json={"eventName": f"e{n}"})
        assert response.status_code == 202
    submit(
        client, f"/apps/{shop.app.id}/overview", {}, action=f"/apps/{shop.app.id}/overview/recount"
    )
    after = depths(page_of(client))
    assert after == {
        **before,
        "default": before["default"] + 3,
        "batch_processing": 1 + before["batch_processing"],
    }


def test_full_profile_depths_follow_redis_and_no_worker_answers(full_app):
    client, shop = owner_with_app(full_app, "owner@example.com", "Shop")
    page = page_of(client)
    shown = depths(page)
    assert shown == redis_depths(full_app)
    assert shown[STREAM] == 0
    assert "No worker answered within 1 s" in page
    for n in range(3):  # one stream entry per request; the first also queues a drain
        response = client.post(f"/api/logs/{shop.app.write_key}", json={"eventName": f"e{n}"})
        assert response.status_code == 202
    submit(
        client, f"/apps/{shop.app.id}/overview", {}, action=f"/apps/{shop.app.id}/overview/recount"
    )
    after = depths(page_of(client))
    assert after == redis_depths(full_app)
    assert after[STREAM] == 3
    assert after["batch_processing"] == shown["batch_processing"] + 1
    assert after["default"] >= shown["default"] + 1  # the drain of the stream waits too


def test_only_ones_own_dead_letters_and_failed_jobs_are_shown(micro_app):
    client, shop = owner_with_app(micro_app, "owner@example.com", "Shop")
    blog = second_app(client)
    stranger, theirs = owner_with_app(micro_app, "stranger@example.com", "Theirs")
    mine = [
        dead_letter(micro_app, shop, {"eventName": f"mine_{n}"}, f"my error {n}") for n in range(2)
    ]
    dead_letter(micro_app, theirs, {"eventName": "their_secret_event"}, "their secret error")
    my_job = failed_job(micro_app, shop.app.id, "my job broke")
    failed_job(micro_app, theirs.app.id, "their job broke")

    page = page_of(client)
    assert "your apps only" in page
    assert re.search(rf'data-app="{shop.app.id}" class="bad">2<', page)
    assert re.search(rf'data-app="{blog}" class="good">0<', page)
    assert f'data-app="{theirs.app.id}"' not in page
    assert f'href="/apps/{shop.app.id}/dead-letters"' in page
    assert f'href="/apps/{theirs.app.id}/dead-letters"' not in page
    recent = re.findall(r'href="/apps/(\d+)/dead-letters/(\d+)"', page)
    assert recent == [(str(shop.app.id), str(dead_id)) for dead_id, _ in reversed(mine)]
    assert "my error 1" in page and "mine_0" in page
    assert f"revalidate #{my_job}" in page and "my job broke" in page
    for secret in ("their_secret_event", "their secret error", "their job broke", "Theirs"):
        assert secret not in page

    theirs_page = page_of(stranger)
    assert "their secret error" in theirs_page and "my error" not in theirs_page


@pytest.mark.system  # starts a process in its own body
def test_a_running_worker_is_listed_with_its_queues(
    full_app, service_root, redis_server, postgres_server, tmp_path
):
    client, _ = owner_with_app(full_app, "owner@example.com", "Shop")
    env = full_env(service_root, redis_server, postgres_server)
    pid = start_worker(env, tmp_path / "worker.log", concurrency=1).pid
    try:
        page = page_of(client)
    finally:
        stop_process_group(pid, timeout=30)
    rows = re.findall(r"<tr><td><code>([^<]+)</code></td><td>([^<]*)</td></tr>", page)
    assert (f"all@{socket.gethostname()}", "batch_processing, default, emails") in rows
    assert "No worker answered" not in page
