"""`make run` under clients that stall or signal twice: each connection of the HTTP and HTTPS
ports is closed after MICRO_SOCKET_TIMEOUT_SECONDS of silence (here 2 s), so stalled clients
cannot pile up threads, and a second SIGTERM during shutdown leaves no traceback."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from stack.servers import wait_until
from tests.support.micro import MicroServer

TIMEOUT = 2.0
# Well above TIMEOUT, so a server that closes on time never trips it, and a server without the
# timeout fails the test instead of hanging it.
CLIENT_PATIENCE = 15.0


@pytest.fixture(scope="module")
def stall_server(tmp_path_factory):
    server = MicroServer(tmp_path_factory.mktemp("stalls") / "data")
    server.env["MICRO_SOCKET_TIMEOUT_SECONDS"] = str(TIMEOUT)
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


def closed_by_server(port: int, sent: bytes) -> tuple[bytes, float]:
    """Connect, send `sent`, then read until the server closes: (what it sent, seconds)."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_PATIENCE) as sock:
        sock.sendall(sent)
        started, answer = time.monotonic(), b""
        while chunk := sock.recv(65536):  # socket.timeout (a failure) if it is never closed
            answer += chunk
        return answer, time.monotonic() - started


def test_half_a_tls_record_is_dropped_after_the_timeout(stall_server):
    # A TLS handshake record's first 4 bytes (type, version, half the length): the handshake,
    # which runs in the request's thread, waits for the rest.
    answer, seconds = closed_by_server(stall_server.https_port, b"\x16\x03\x01\x02")
    assert answer == b"" and seconds < CLIENT_PATIENCE


def test_a_body_shorter_than_its_content_length_is_dropped_after_the_timeout(stall_server):
    head = (
        f"POST /api/logs/{stall_server.keys()['write']} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{stall_server.port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    answer, seconds = closed_by_server(stall_server.port, head.encode() + b'{"eventName":')
    # The app reads the body to its end, times out and answers 400 (the JSON is cut short).
    assert answer.startswith(b"HTTP/1.1 400") and seconds < CLIENT_PATIENCE


def test_headers_that_never_end_are_dropped_after_the_timeout(stall_server):
    answer, seconds = closed_by_server(stall_server.port, b"GET /login HTTP/1.1\r\nHost: x")
    assert answer == b"" and seconds < CLIENT_PATIENCE


def test_two_host_headers_get_invalid_host(stall_server):
    request = (
        f"GET /v1/projects/{stall_server.keys()['write']}/settings HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nHost: evil.example.com\r\nConnection: close\r\n\r\n"
    )
    answer, _ = closed_by_server(stall_server.port, request.encode())
    assert answer.startswith(b"HTTP/1.1 400") and b'"code":"invalid_host"' in answer


@pytest.mark.system  # starts a process in its own body
def test_a_second_sigterm_during_shutdown_stops_cleanly(tmp_path):
    server = MicroServer(tmp_path / "data")
    server.start()
    started_at = server.log.stat().st_size
    os.killpg(server.proc.pid, signal.SIGTERM)
    wait_until(lambda: b"Stopping..." in server.log.read_bytes()[started_at:], 30, "shutdown")
    os.killpg(server.proc.pid, signal.SIGTERM)  # while the servers, beat and worker stop
    assert server.proc.wait(timeout=30) == 0
    output = server.log.read_text()
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]
