"""The production nginx config (nginx/nginx.conf, rendered like `make up` does) on a real nginx
in front of the test gunicorn: caps, rate limit, Flower's password, JSON errors."""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stack.__main__ import flower_command
from stack.servers import ROOT, Server, free_port, spawn, stop_process_group, wait_until
from tests.helpers import DEMO_PLAN
from tests.support.nginx import PASSWORD, USER, fetch, port_of
from tests.support.profiles import add_app, full_env

# nginx's own 413, its size written out (nginx/nginx.conf: client_max_body_size 600k).
NGINX_413 = "The request body is over the 614400-byte limit (600k)."
NGINX_UPLOAD_413 = "The upload is over the 53477376-byte limit (51m)."


def sized_event(size: int) -> bytes:
    """A valid event padded with whitespace to `size` bytes (the app's 32 KB cap per event
    measures the event's canonical JSON, so only the request caps see the padding)."""
    event = b'{"eventName": "user_login", "userId": 1}'
    return event + b" " * (size - len(event))


def upstream_sockets(nginx: Server, port: int) -> int:
    """Established TCP connections nginx's processes hold to 127.0.0.1:port."""
    inodes = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) != nginx.pid:  # process group
                continue
            links = [str(fd.readlink()) for fd in (stat.parent / "fd").iterdir()]
        except (OSError, ValueError):
            continue
        inodes.update(link[8:-1] for link in links if link.startswith("socket:["))
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1
        for row in rows
        if (f := row.split())[2].endswith(f":{port:04X}") and f[3] == "01" and f[9] in inodes
    )


def test_an_event_through_nginx_gets_its_verdict_over_a_reused_connection(
    full_app, gunicorn_url, start_proxy
):
    new = add_app(full_app, plan=DEMO_PLAN)
    nginx = start_proxy(port_of(gunicorn_url))
    url = f"{nginx.url}/api/logs/{new.app.write_key}"
    for i in range(10):
        status, _, body = fetch(url, json.dumps({"eventName": "user_login", "userId": i}).encode())
        assert (status, body["status"]) == (202, "valid")
    status, _, body = fetch(url, b'{"eventName": "purchase", "price": -5, "currency": "usd"}')
    assert (status, body["status"]) == (202, "invalid")
    # Ten requests one after the other, one connection to gunicorn, kept open for the next.
    assert upstream_sockets(nginx, port_of(gunicorn_url)) == 1
    # The app's own errors pass through untouched (nginx's JSON 401 is for Flower only).
    status, _, body = fetch(f"{nginx.url}/api/logs/nope", b'{"eventName": "x"}')
    assert (status, body["code"]) == (401, "unknown_app_key")


def test_bodies_over_nginx_cap_get_its_json_413_and_between_the_caps_the_apps(
    full_app, gunicorn_url, start_proxy
):
    new = add_app(full_app, plan=DEMO_PLAN)
    url = f"{start_proxy(port_of(gunicorn_url)).url}/api/logs/{new.app.write_key}"
    app_cap = full_app.config["MAX_REQUEST_BYTES"]  # 500 KB; nginx's is 600 KB

    status, _, body = fetch(url, sized_event(app_cap))
    assert (status, body["status"]) == (202, "valid")
    status, _, body = fetch(url, sized_event(app_cap + 50 * 1024))
    assert (status, body) == (
        413,
        {
            "code": "payload_too_large",
            "message": f"The request body is over the {app_cap}-byte limit.",
        },
    )
    status, _, body = fetch(url, sized_event(700 * 1024))
    assert (status, body) == (413, {"code": "payload_too_large", "message": NGINX_413})
    # Uploads (import jobs) have their own cap, and their 413 says it.
    jobs = url.replace(f"/api/logs/{new.app.write_key}", f"/api/apps/{new.app.id}/jobs")
    status, _, body = fetch(jobs, b"x" * (52 * 1024 * 1024), {"Content-Type": "application/gzip"})
    assert (status, body) == (413, {"code": "payload_too_large", "message": NGINX_UPLOAD_413})


def test_flower_needs_the_password(gunicorn_url, start_proxy):
    url = f"{start_proxy(port_of(gunicorn_url)).url}/flower/"

    def basic(user: str, password: str) -> dict[str, str]:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    for headers in ({}, basic(USER, "wrong"), basic("someone", PASSWORD)):
        status, answer_headers, body = fetch(url, headers=headers)
        assert (status, body["code"]) == (401, "unauthorized")
        assert answer_headers["WWW-Authenticate"] == 'Basic realm="Flower"'
    # Past the password; Flower is not running, so nginx answers for it.
    status, answer_headers, body = fetch(url, headers=basic(USER, PASSWORD))
    assert (status, body["code"], answer_headers["Retry-After"]) == (503, "unavailable", "1")


@pytest.mark.system  # starts a process in its own body
def test_flower_answers_behind_the_password_and_its_own_endpoints_too(
    service_root, redis_server, postgres_server, gunicorn_url, start_proxy, tmp_path
):
    port = free_port()
    log = tmp_path / "flower.log"
    flower = spawn(
        flower_command(port, tmp_path / "flower.db"),  # as `make up` starts it
        log,
        cwd=ROOT,
        env={**os.environ, **full_env(service_root, redis_server, postgres_server)},
    )
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/flower/healthcheck"), 60, "flower")
        nginx = start_proxy(port_of(gunicorn_url), flower_port=port)
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        for path in ("/flower/", "/flower/metrics", "/flower/healthcheck", "/flower/api/workers"):
            assert fetch_status(f"{nginx.url}{path}") == 401, path
        request = urllib.request.Request(
            f"{nginx.url}/flower/", headers={"Authorization": f"Basic {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            assert "<title>Workers · Flower</title>" in response.read().decode()
    finally:
        stop_process_group(flower.pid, timeout=10)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def fetch_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def test_a_flood_from_one_address_gets_json_429(gunicorn_url, start_proxy):
    # The production limit is far above what a test can send: render it tiny.
    changes = {"rate=5000r/s": "rate=1r/m", "burst=10000": "burst=1"}
    url = f"{start_proxy(port_of(gunicorn_url), changes).url}/healthz"
    assert [fetch(url)[0] for _ in range(2)] == [200, 200]  # one at the rate, one of burst
    status, headers, body = fetch(url)
    assert (status, body["code"], headers["Retry-After"]) == (429, "rate_limited", "1")
    assert set(body) == {"code", "message"}


def test_a_dead_upstream_gets_json_503_with_retry_after(start_proxy):
    status, headers, body = fetch(f"{start_proxy(free_port()).url}/healthz")
    assert (status, headers["Retry-After"]) == (503, "1")
    assert body == {"code": "unavailable", "message": "The service is unavailable; retry shortly."}
    # A web page's SDK must be able to read it (and its Retry-After) like the app's own errors.
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Expose-Headers"] == "Retry-After"
    assert headers["X-Content-Type-Options"] == "nosniff"
