"""`/healthz` and `/readyz`: answered in bounded time, never a 500, whatever the servers do."""

from __future__ import annotations

import socket
import time

import pytest

from stack.servers import free_port, start_redis
from tests.ops.prom import names, scrape_client, value


def test_healthz_answers_without_touching_any_server(make_app):
    # Nothing listens on either address: the process is up all the same.
    app = make_app("full", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", DATABASE_URL=_nowhere())
    response = app.test_client().get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_times_each_dependency(full_app):
    response = full_app.test_client().get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "redis"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert 0 < check["ms"] < 2000


def test_readyz_in_micro_skips_redis_and_says_so(micro_app):
    response = micro_app.test_client().get("/readyz")
    assert response.status_code == 200
    checks = response.get_json()["checks"]
    assert checks["database"]["ok"] is True and checks["database"]["ms"] > 0
    assert checks["redis"]["ok"] is True and "micro" in checks["redis"]["skipped"]


def test_readyz_is_503_naming_redis_once_redis_stops(full_app, make_app, tmp_path):
    server = start_redis(tmp_path / "redis", free_port(), appendonly=False)
    try:
        app = make_app("full", REDIS_URL=server.url)
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        server.stop()

        started = time.monotonic()
        response = client.get("/readyz")
        assert time.monotonic() - started < 2.5
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        body = response.get_json()
        assert body["status"] == "unavailable" and body["failing"] == ["redis"]
        assert body["checks"]["database"]["ok"] is True
        assert body["checks"]["redis"]["ok"] is False
        assert "Connection" in body["checks"]["redis"]["error"]
        assert client.get("/healthz").status_code == 200

        # The scrape still answers: what lives in the database, and which look failed.
        samples = scrape_client(client)
        assert value(samples, "lvd_scrape_collector_success", collector="queue_depth") == 0
        assert value(samples, "lvd_scrape_collector_success", collector="dead_letters") == 1
        assert "lvd_queue_depth" not in names(samples)
        assert "lvd_dead_letters_pending" in names(samples)
        assert "lvd_events_total" in names(samples)
    finally:
        server.stop()


def test_readyz_is_503_naming_the_database_when_it_is_unreachable(make_app):
    app = make_app("full", DATABASE_URL=_nowhere())
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failing"] == ["database"]
    assert body["checks"]["redis"]["ok"] is True
    assert "refused" in body["checks"]["database"]["error"]

    samples = scrape_client(client)
    assert value(samples, "lvd_scrape_collector_success", collector="dead_letters") == 0
    assert "lvd_dead_letters_pending" not in names(samples)
    assert value(samples, "lvd_queue_depth", queue="default") == 0
    assert ("lvd_queue_depth", (("queue", "default"),)) in samples


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_readyz_answers_in_bounded_time_when_the_database_hangs(make_app, silent_server):
    app = make_app("full", DATABASE_URL=f"postgresql://lvd@127.0.0.1:{silent_server}/lvd")
    client = app.test_client()
    started = time.monotonic()
    response = client.get("/readyz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert 1.5 < elapsed < 3
    assert "no answer within" in response.get_json()["checks"]["database"]["error"]

    # The first look is still stuck: a second call starts no second thread and answers at once.
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 1
    assert response.status_code == 503
    assert "has not returned" in response.get_json()["checks"]["database"]["error"]


def _nowhere() -> str:
    return f"postgresql://lvd@127.0.0.1:{free_port()}/lvd"
