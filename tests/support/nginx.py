"""nginx with the production config (nginx/nginx.conf, rendered as `make up` does) in front of a
test server, and plain HTTP reads of what it answers."""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

from stack.__main__ import render_nginx_conf, write_htpasswd
from stack.servers import Server, free_port, start_nginx

# Flower's basic-auth account in the rendered config.
USER, PASSWORD = "admin", "right-password"


def start_proxy(
    service_root: Path,
    app_port: int,
    changes: dict[str, str] | None = None,
    flower_port: int | None = None,
) -> Server:
    """A real nginx in front of 127.0.0.1:app_port, with `changes` made to the config text."""
    # Under service_root: nginx's worker runs as `nobody` (the tests run as root) and must
    # reach the htpasswd file and its temp folders.
    folder = Path(tempfile.mkdtemp(prefix="nginx-", dir=service_root))
    folder.chmod(0o755)
    write_htpasswd(folder / "htpasswd", USER, PASSWORD)
    port = free_port()
    # Without flower_port nothing listens on Flower's: "Flower is not started".
    conf = render_nginx_conf(
        port, [f"127.0.0.1:{app_port}"], flower_port or free_port(), folder / "htpasswd"
    )
    for old, new in (changes or {}).items():
        assert old in conf, f"{old!r} is no longer in nginx.conf"
        conf = conf.replace(old, new)
    return start_nginx(folder, conf, port)


def fetch(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Message, Any]:
    """(status, headers, JSON body) of a GET, or of a JSON POST when there is a body."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, json.loads(error.read())


def port_of(url: str) -> int:
    """The port of an http://host:port URL."""
    return int(url.rsplit(":", 1)[1])
