"""Admission rules: the per-key rate limit (429), the queue backlog (503) and Redis down (503).

The 1-second bound on the 503 with Redis stopped is the protocol's own rule (SDKs must not
hang), so it is asserted here; everything else is behaviour.
"""

from __future__ import annotations

import time

import pytest
import redis

from app.services.ingestion.event_stream import STREAM
from stack.servers import free_port, start_redis
from tests.helpers import assert_error, queue_length
from tests.support.profiles import add_app


def _post(flask_app, key, n=0, path="native"):
    client = flask_app.test_client()
    if path == "native":
        return client.post(f"/api/logs/{key}", json={"eventName": "e", "n": n})
    return client.post(
        "/v1/track", json={"event": "e", "userId": "u", "properties": {"n": n}, "writeKey": key}
    )


@pytest.mark.parametrize("profile", ["micro", "full"])
def test_over_the_rate_limit_is_429_with_retry_after_per_key(full_app, make_app, profile):
    flask_app = make_app(profile, RATE_LIMIT_REQUESTS=3, RATE_LIMIT_WINDOW_SECONDS=60)
    one, two = add_app(flask_app, "one"), add_app(flask_app, "two")
    answers = [
        _post(flask_app, one.app.write_key, n, path).status_code
        for n, path in enumerate(["native", "sdk", "native"])
    ]
    assert answers == [202, 200, 202]
    limited = _post(flask_app, one.app.write_key, 9, "sdk")
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Another key has its own budget.
    assert _post(flask_app, two.app.write_key).status_code == 202


def test_a_rate_limit_of_zero_is_off(full_app, make_app):
    flask_app = make_app("full", RATE_LIMIT_REQUESTS=0)
    shop = add_app(flask_app)
    assert all(_post(flask_app, shop.app.write_key, n).status_code == 202 for n in range(30))


def test_backpressure_503_while_the_queue_is_over_its_limit_then_accepts_again(full_app, make_app):
    flask_app = make_app("full", QUEUE_BACKLOG_LIMIT=3)
    shop = add_app(flask_app)
    assert [_post(flask_app, shop.app.write_key, n).status_code for n in range(3)] == [202] * 3
    refused = _post(flask_app, shop.app.write_key, 3, "sdk")
    assert_error(refused, 503, "unavailable")
    assert refused.headers["Retry-After"] == "1"
    assert queue_length(flask_app) == 3  # nothing refused was queued
    # A worker stores one entry: the next request is accepted, and is not a duplicate.
    with redis.Redis.from_url(flask_app.config["REDIS_URL"]) as client:
        [(entry_id, _)] = client.xrange(STREAM, count=1)
        client.xdel(STREAM, entry_id)
    accepted = _post(flask_app, shop.app.write_key, 3, "sdk")
    assert accepted.status_code == 200 and accepted.json["status"] == "unplanned"


def test_backpressure_off_accepts_past_any_backlog(full_app, make_app):
    flask_app = make_app("full", QUEUE_BACKLOG_LIMIT=0)
    shop = add_app(flask_app)
    assert all(_post(flask_app, shop.app.write_key, n).status_code == 202 for n in range(10))
    assert queue_length(flask_app) == 10


@pytest.fixture
def own_redis(service_root):
    """A Redis this test may stop."""
    server = start_redis(service_root / f"redis-{free_port()}", free_port(), appendonly=False)
    yield server
    server.stop()


@pytest.mark.parametrize("path", ["native", "sdk"])
def test_redis_down_is_503_with_retry_after_within_a_second(full_app, make_app, own_redis, path):
    flask_app = make_app("full", REDIS_URL=own_redis.url)
    shop = add_app(flask_app)
    assert _post(flask_app, shop.app.write_key, 0, path).status_code in (200, 202)
    own_redis.stop()
    for n in range(1, 4):
        started = time.monotonic()
        response = _post(flask_app, shop.app.write_key, n, path)
        elapsed = time.monotonic() - started
        assert_error(response, 503, "unavailable")
        assert response.headers["Retry-After"] == "1"
        assert elapsed < 1.0, f"503 took {elapsed:.2f}s"


def test_redis_at_its_memory_cap_refuses_with_503_instead_of_dropping(
    full_app, make_app, service_root
):
    server = start_redis(
        service_root / f"redis-{free_port()}", free_port(), appendonly=False, maxmemory="4mb"
    )
    try:
        flask_app = make_app("full", REDIS_URL=server.url)
        shop = add_app(flask_app)
        with redis.Redis.from_url(server.url) as client:
            with pytest.raises(redis.exceptions.ResponseError, match="maxmemory"):
                for i in range(10_000):  # fill to the cap: noeviction refuses, never evicts
                    client.set(f"ballast:{i}", "x" * 10_000)
            response = _post(flask_app, shop.app.write_key)
            assert_error(response, 503, "unavailable")
            assert client.exists("ballast:0")  # nothing was evicted to make room
    finally:
        server.stop()
