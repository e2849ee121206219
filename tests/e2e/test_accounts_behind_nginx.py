"""The full profile's front door as `make up` builds it: nginx (nginx/nginx.conf) in front of a
gunicorn that trusts exactly that one hop (TRUSTED_PROXIES=1), and Flower with a password of
its own. Clients connect from different loopback addresses (127.0.0.2, 127.0.0.3), so nginx
sees different client IPs."""

from __future__ import annotations

import base64
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from stack.__main__ import flower_command, flower_env, render_nginx_conf, write_htpasswd
from stack.servers import (
    ROOT,
    Server,
    free_port,
    spawn,
    start_gunicorn,
    start_nginx,
    stop_process_group,
    wait_until,
)
from tests.support.profiles import flush_redis, full_env

USER, PASSWORD = "admin", "flower-password"


@pytest.fixture(scope="module")
def front_door(service_root, redis_server, postgres_server, tmp_path_factory):
    """nginx → gunicorn (TRUSTED_PROXIES=1, 3 failed logins per IP) and Flower; nginx's URL."""
    flush_redis(redis_server)  # no login counts of earlier tests
    env = {
        **os.environ,
        **full_env(service_root, redis_server, postgres_server),
        "TRUSTED_PROXIES": "1",
        "LOGIN_FAILURES_PER_IP": "3",
    }
    logs = tmp_path_factory.mktemp("front-door")
    app_port, flower_port = free_port(), free_port()
    gunicorn = start_gunicorn(env, logs / "gunicorn.log", app_port, workers=1, wait=False)
    flower = spawn(
        flower_command(flower_port, logs / "flower.db"),
        logs / "flower.log",
        cwd=ROOT,
        env=flower_env(env, USER, PASSWORD),
    )
    # nginx's worker runs as `nobody` when the tests run as root: a folder it can reach.
    folder = Path(tempfile.mkdtemp(prefix="nginx-", dir=service_root))
    folder.chmod(0o755)
    write_htpasswd(folder / "htpasswd", USER, PASSWORD)
    port = free_port()
    nginx: Server | None = None
    try:
        wait_until(lambda: _status(f"http://127.0.0.1:{app_port}/healthz") == 200, 60, "gunicorn")
        health = f"http://127.0.0.1:{flower_port}/flower/healthcheck"
        wait_until(lambda: _status(health) == 200, 60, "flower")
        conf = render_nginx_conf(port, [f"127.0.0.1:{app_port}"], flower_port, folder / "htpasswd")
        nginx = start_nginx(folder, conf, port)
        yield {"nginx": port, "flower": flower_port}
    finally:
        if nginx is not None:
            nginx.stop()
        stop_process_group(flower.pid, timeout=10)
        stop_process_group(gunicorn.pid, timeout=30)


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers or {}), timeout=5
        ) as r:
            return r.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code
    except OSError:
        return 0


class Browser:
    """A client from one loopback address, keeping its cookie like a browser."""

    def __init__(self, port: int, source: str) -> None:
        self.port, self.source, self.cookie = port, source, ""

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, **headers: str
    ) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=30, source_address=(self.source, 0)
        )
        try:
            if self.cookie:
                headers["Cookie"] = self.cookie
            body = None
            if form is not None:
                body = urlencode(form)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            set_cookie = response.getheader("Set-Cookie", "")
            if set_cookie.startswith("session="):
                self.cookie = set_cookie.split(";")[0]
            return response.status, dict(response.getheaders()), text
        finally:
            connection.close()

    def login(self, email: str, **headers: str) -> int:
        _, _, page = self.request("GET", "/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = {"email": email, "password": "wrong password", "csrf_token": token}
        return self.request("POST", "/login", form, **headers)[0]


def test_each_client_behind_nginx_is_limited_on_its_own_address(front_door):
    first, second = (
        Browser(front_door["nginx"], "127.0.0.2"),
        Browser(front_door["nginx"], "127.0.0.3"),
    )
    assert [first.login(f"a{n}@example.com") for n in range(3)] == [200] * 3
    assert first.login("b@example.com") == 429
    # A header of the client's own is only the left part of what the app reads: no way out.
    assert first.login("c@example.com", **{"X-Forwarded-For": "192.0.2.50"}) == 429
    # The other client, through the same nginx, is not held back.
    assert second.login("b@example.com") == 200


def test_pages_through_nginx_carry_the_security_headers(front_door):
    status, headers, _ = Browser(front_door["nginx"], "127.0.0.4").request("GET", "/login")
    assert status == 200
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "SameSite=Lax" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]


def test_flower_wants_its_own_password_on_its_own_port_too(front_door):
    direct = f"http://127.0.0.1:{front_door['flower']}/flower/"
    right = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    wrong = {"Authorization": "Basic " + base64.b64encode(f"{USER}:guess".encode()).decode()}
    assert _status(direct) == 401
    assert _status(direct, wrong) == 401
    assert _status(direct, right) == 200
    # Through nginx the one password opens both doors (nginx passes the header on).
    assert _status(f"http://127.0.0.1:{front_door['nginx']}/flower/", right) == 200
    assert _status(f"http://127.0.0.1:{front_door['nginx']}/flower/api/workers", wrong) == 401
