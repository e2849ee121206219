"""Long-polls cannot starve ingestion, on a real gunicorn of the full profile (gunicorn.conf.py,
2 workers) and on granian (`API_SERVER=granian`, 2 workers): 50 clients wait at once on tasks
that stay queued (no worker runs) while another
app posts events. Every event is answered 202 while the admitted waits are still waiting, and
the waits over the caps are answered 429 `too_many_waits` at once. A client that hangs up
gives its slot back without waiting for its deadline. The micro profile (`python run.py`)
applies the same caps in its one process."""

from __future__ import annotations

import http.client
import json
import select
import threading
from urllib.parse import urlsplit

import pytest

from app.services.ingestion.task_ids import new_task_id
from stack.servers import free_port, start_gunicorn, wait_until
from tests.e2e.http import request
from tests.helpers import DEMO_PLAN
from tests.support.micro import MicroServer
from tests.support.profiles import SECRET, add_app, full_env

WAITERS = 50
WAIT_SECONDS = 20
WAITING_APPS = 5  # so both caps bite: per app, and per process across apps
# gunicorn_url's processes, and the defaults of TASK_WAITS_PER_PROCESS / TASK_WAITS_PER_APP.
WORKERS, PER_PROCESS, PER_APP = 2, 4, 2
EVENTS = 50


@pytest.mark.system  # its server comes by name (getfixturevalue)
@pytest.mark.parametrize("server", ["gunicorn_url", "granian_url"])  # API_SERVER's two choices
def test_fifty_waits_leave_ingestion_free(full_app, request, server):
    url = request.getfixturevalue(server)
    host, port = urlsplit(url).hostname, urlsplit(url).port
    waiting = [add_app(full_app, f"waiting-{i}", DEMO_PLAN) for i in range(WAITING_APPS)]
    ingesting = add_app(full_app, "ingesting", DEMO_PLAN)

    sent = threading.Semaphore(0)
    ingested = threading.Event()
    # (app index, status, body, Retry-After, answered after every event was?)
    answers: list[tuple[int, int, dict, str | None, bool]] = []
    lock = threading.Lock()

    def wait(index: int) -> None:
        new = waiting[index % WAITING_APPS]
        task_id = new_task_id(SECRET.encode(), new.app.id)  # issued, never stored: queued
        conn = http.client.HTTPConnection(host, port, timeout=WAIT_SECONDS + 30)
        try:
            conn.request(
                "GET",
                f"/api/tasks/{task_id}?wait={WAIT_SECONDS}",
                headers={"Authorization": f"Bearer {new.read_key}"},
            )
            sent.release()
            response = conn.getresponse()
            body = json.loads(response.read())
            with lock:
                answers.append(
                    (
                        index % WAITING_APPS,
                        response.status,
                        body,
                        response.getheader("Retry-After"),
                        ingested.is_set(),
                    )
                )
        finally:
            conn.close()

    threads = [threading.Thread(target=wait, args=(i,), daemon=True) for i in range(WAITERS)]
    for thread in threads:
        thread.start()
    for _ in range(WAITERS):  # every wait is on the wire before the first event is posted
        assert sent.acquire(timeout=30)

    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        for i in range(EVENTS):
            conn.request(
                "POST",
                f"/api/logs/{ingesting.app.write_key}",
                body=json.dumps({"eventName": "user_login", "userId": i}),
                headers={"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            body = json.loads(response.read())
            assert response.status == 202, body
            assert body["status"] == "valid"
    finally:
        conn.close()
    ingested.set()

    for thread in threads:
        thread.join(timeout=WAIT_SECONDS + 30)
    assert len(answers) == WAITERS
    waited = [a for a in answers if a[1] == 200]
    refused = [a for a in answers if a[1] != 200]
    # Every event was answered while the admitted waits were still waiting.
    assert waited and all(after for *_, after in waited)
    assert all(body == {"task_id": body["task_id"], "state": "queued"} for _, _, body, *_ in waited)
    # The caps: per process in all, and per app in each process.
    assert len(waited) <= WORKERS * PER_PROCESS
    for index in range(WAITING_APPS):
        assert sum(1 for a in waited if a[0] == index) <= WORKERS * PER_APP
    for _, status, body, retry_after, _ in refused:
        assert status == 429 and body["code"] == "too_many_waits" and body["message"]
        assert retry_after is not None and int(retry_after) >= 1
    # Refused at once: every 429 came before the first wait ended.
    assert [a[1] for a in answers] == [429] * len(refused) + [200] * len(waited)


@pytest.fixture(scope="module")
def one_slot_gunicorn(service_root, redis_server, postgres_server, tmp_path_factory):
    """A real gunicorn of one worker process that admits one wait at a time."""
    log = tmp_path_factory.mktemp("gunicorn-one-slot") / "gunicorn.log"
    env = {**full_env(service_root, redis_server, postgres_server), "TASK_WAITS_PER_PROCESS": "1"}
    server = start_gunicorn(env, log, free_port(), workers=1)
    yield server.url
    server.stop()


def test_a_client_that_hangs_up_gives_its_slot_back(full_app, one_slot_gunicorn):
    host, port = urlsplit(one_slot_gunicorn).hostname, urlsplit(one_slot_gunicorn).port
    shop = add_app(full_app, "shop", DEMO_PLAN)
    headers = {"Authorization": f"Bearer {shop.read_key}"}

    def ask(wait: int) -> int:
        task_id = new_task_id(SECRET.encode(), shop.app.id)
        conn = http.client.HTTPConnection(host, port, timeout=60)
        try:
            conn.request("GET", f"/api/tasks/{task_id}?wait={wait}", headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()

    def send_gone() -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        task_id = new_task_id(SECRET.encode(), shop.app.id)
        conn.request("GET", f"/api/tasks/{task_id}?wait=30", headers=headers)
        return conn

    gone = send_gone()

    def gone_holds_the_slot() -> bool:
        nonlocal gone
        if select.select([gone.sock], [], [], 0)[0]:
            # Answered already: a probe held the slot when it arrived (429) on a slow machine.
            assert gone.getresponse().status == 429
            gone.close()
            gone = send_gone()
            return False
        return ask(0) == 200 and ask(1) == 429

    wait_until(gone_holds_the_slot, 30, "the one slot taken")
    gone.close()  # hangs up long before its 30 s
    wait_until(lambda: ask(1) == 200, 10, "the slot given back")  # well before its 30 s


@pytest.mark.system  # starts a process in its own body
def test_micro_profile_caps_waits_and_keeps_ingesting(tmp_path):
    """`make run`'s one process (werkzeug, a thread per request): the same caps, in-process."""
    server = MicroServer(tmp_path / "data")
    server.start()
    try:
        keys = server.keys()
        other = json.loads(server.flask("apps", "create", "other", "--json"))
        secret = (tmp_path / "data" / "secret_key").read_text().strip().encode()
        host, port = "127.0.0.1", server.port
        answers: list[tuple[int, dict, bool]] = []
        sent, ingested, lock = threading.Semaphore(0), threading.Event(), threading.Lock()

        def wait() -> None:
            task_id = new_task_id(secret, int(keys["app_id"]))
            conn = http.client.HTTPConnection(host, port, timeout=60)
            try:
                conn.request(
                    "GET",
                    f"/api/tasks/{task_id}?wait=15",
                    headers={"Authorization": f"Bearer {keys['read']}"},
                )
                sent.release()
                response = conn.getresponse()
                with lock:
                    answers.append(
                        (response.status, json.loads(response.read()), ingested.is_set())
                    )
            finally:
                conn.close()

        threads = [threading.Thread(target=wait, daemon=True) for _ in range(20)]
        for thread in threads:
            thread.start()
        for _ in threads:
            assert sent.acquire(timeout=30)
        for i in range(EVENTS):
            status, body = request(
                "POST",
                f"{server.url}/api/logs/{other['write_key']}",
                {"eventName": "user_login", "userId": i},
            )
            assert status == 202, body
        ingested.set()
        for thread in threads:
            thread.join(timeout=45)
        assert len(answers) == 20
        waited = [a for a in answers if a[0] == 200]
        assert len(waited) == PER_APP and all(after for *_, after in waited)
        assert all(a[0] == 429 and a[1]["code"] == "too_many_waits" for a in answers[:-PER_APP])
    finally:
        server.stop()
