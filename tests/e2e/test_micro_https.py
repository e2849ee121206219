"""`make run`'s HTTPS port: a certificate that verifies against the CA it prints, for the names
devices use, the same CA after a restart, and plain HTTP unchanged beside it."""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from app.dashboard.sdk_snippets import sdk_snippets
from stack.servers import wait_until
from tests.e2e.http import request
from tests.support.micro import MicroServer


@pytest.fixture
def micro_server(tmp_path):
    """`make run` as tests/e2e/test_micro_profile.py starts it, with its HTTPS port."""
    server = MicroServer(tmp_path / "data")
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


def printed_ca(server: MicroServer) -> Path:
    """The CA file the last start printed."""
    return Path(re.findall(r"CA to trust: (\S+)", server.log.read_text())[-1])


def post_event_over_https(server: MicroServer, host: str, context: ssl.SSLContext) -> int:
    """Status of a POST of one event to the HTTPS port, reached as `host`."""
    connection = http.client.HTTPSConnection(host, server.https_port, context=context, timeout=30)
    try:
        body = json.dumps({"eventName": "user_login", "userId": 123, "n": host})
        connection.request(
            "POST",
            f"/api/logs/{server.keys()['write']}",
            body,
            {"Content-Type": "application/json"},
        )
        return connection.getresponse().status
    finally:
        connection.close()


def curl_status(server: MicroServer, host: str, ca: Path | None) -> subprocess.CompletedProcess:
    """curl of the HTTPS port as `host`, checking the certificate against `ca` (or the
    system's CAs)."""
    return subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20"]
        + (["--cacert", str(ca)] if ca else [])
        + [f"https://{host}:{server.https_port}/login"],
        capture_output=True,
        text=True,
    )


def fingerprint(ca: Path) -> str:
    """SHA-256 of the CA certificate, as `openssl x509 -fingerprint` prints it."""
    out = subprocess.run(
        ["openssl", "x509", "-in", str(ca), "-noout", "-fingerprint", "-sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip()


def test_the_https_port_verifies_against_the_printed_ca_and_keeps_it(micro_server):
    ca = printed_ca(micro_server)
    assert ca.is_file() and ca.parent.parent == Path(micro_server.env["LVD_DATA_DIR"])
    trusting_ca = ssl.create_default_context(cafile=str(ca))
    for host in ("localhost", "127.0.0.1"):
        assert post_event_over_https(micro_server, host, trusting_ca) == 202
        curl = curl_status(micro_server, host, ca)
        assert (curl.returncode, curl.stdout) == (0, "200"), curl.stderr
    # Without the CA, neither trusts the certificate: the check above is a real one.
    with pytest.raises(ssl.SSLCertVerificationError):
        post_event_over_https(micro_server, "127.0.0.1", ssl.create_default_context())
    assert curl_status(micro_server, "localhost", None).returncode == 60  # peer not verified

    # A client that connects and says nothing (a stalled phone) holds up no one else.
    with socket.create_connection(("127.0.0.1", micro_server.https_port)):
        assert post_event_over_https(micro_server, "127.0.0.1", trusting_ca) == 202

    # Plain HTTP is as it was.
    keys = micro_server.keys()
    event_url = f"{micro_server.url}/api/logs/{keys['write']}"
    status, body = request("POST", event_url, {"eventName": "a"})
    assert (status, body["status"]) == (202, "unplanned")

    # The Python snippet of the app page, run as written, delivers with the real SDK.
    snippet = {s.key: s.code for s in sdk_snippets(keys["write"], micro_server.url, None)}
    subprocess.run([sys.executable, "-c", snippet["python"]], check=True, timeout=60)
    auth = {"Authorization": f"Bearer {keys['read']}"}
    events_url = f"{micro_server.url}/api/apps/{keys['app_id']}/events"

    def sdk_event_stored() -> bool:
        events = request("GET", events_url, headers=auth)[1]["events"]
        return any(
            (e["library"]["name"], e["user_id"], e["event_name"])
            == ("analytics-python", "user-1", "user_login")
            for e in events
        )

    wait_until(sdk_event_stored, 30, "the Python snippet's event")

    # A restart keeps the CA (a device trusts it once) and its certificate still verifies.
    before = fingerprint(ca)
    micro_server.stop()
    micro_server.start()
    assert printed_ca(micro_server) == ca
    assert fingerprint(ca) == before
    assert post_event_over_https(micro_server, "localhost", trusting_ca) == 202


@pytest.mark.system  # starts a process in its own body
def test_a_busy_https_port_leaves_http_serving_and_says_so(tmp_path):
    server = MicroServer(tmp_path / "data")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", server.https_port))
        taken.listen()
        server.start()
        try:
            status, body = request(
                "POST", f"{server.url}/api/logs/{server.keys()['write']}", {"eventName": "x"}
            )
            assert (status, body["status"]) == (202, "unplanned")
            assert f"HTTPS: off, port {server.https_port} could not be used" in (
                server.log.read_text()
            )
        finally:
            server.stop()
