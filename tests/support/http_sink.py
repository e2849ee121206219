"""A real HTTP server for the tests that post webhooks: records every request, answers from a
script (e.g. [500, 500, 200]; then 200), and lets a test wait for a number of requests."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from stack.servers import free_port


@dataclass(frozen=True)
class Received:
    """One request as the sink saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    """A scripted answer: a status, extra headers, a body."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    # Hold the answer until the sink is released (a receiver that never answers in time).
    hang: bool = False
    # Send the status line, then one header line every this many seconds until the sink is
    # released (a receiver that answers too slowly for any whole-answer deadline).
    trickle: float | None = None


class HttpSink:
    """A threaded HTTP server on 127.0.0.1 and a free port; `script` answers the next requests
    in order (an int is a status), and every later one gets 200."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.received = threading.Condition()
        self.released = threading.Event()
        self.cut_off = threading.Event()
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with sink.received:
                    reply = sink.script.pop(0) if sink.script else Reply(200, body=b"ok")
                    sink.requests.append(
                        Received("POST", self.path, dict(self.headers.items()), body)
                    )
                    sink.received.notify_all()
                if reply.hang:
                    sink.released.wait(30)
                if reply.trickle is not None:
                    self._trickle(reply)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def _trickle(self, reply: Reply) -> None:
                self.wfile.write(f"HTTP/1.1 {reply.status} OK\r\n".encode())
                self.wfile.flush()
                try:
                    while not sink.released.wait(reply.trickle):
                        self.wfile.write(b"X-Slow: 1\r\n")
                        self.wfile.flush()
                except OSError:
                    sink.cut_off.set()  # the client hung up before the answer was whole

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the test reads `requests`

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        if tls is not None:  # HTTPS: the handshake happens as each connection is accepted
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def answer(self, *replies: int | Reply) -> None:
        """Script the next answers (statuses or Replies), in order."""
        with self.received:
            self.script = [r if isinstance(r, Reply) else Reply(r) for r in replies]

    def wait_for(self, count: int, timeout: float = 15) -> list[Received]:
        """Block until `count` requests arrived (or fail); returns them all."""
        with self.received:
            if not self.received.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} of {count} requests arrived")
            return list(self.requests)

    def clear(self) -> None:
        with self.received:
            self.requests.clear()
            self.script.clear()

    def __enter__(self) -> HttpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
