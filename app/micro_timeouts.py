"""A time limit on each connection of micro's HTTP and HTTPS servers."""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler


def timed_request_handler(seconds: float) -> type[WSGIRequestHandler]:
    """werkzeug's request handler with a timeout on every socket operation of a connection.

    Without it a client that stalls (half a TLS record, a body shorter than its
    Content-Length, an idle keep-alive) holds its thread for ever, and enough of them exhaust
    the process. The HTTPS port's TLS handshake runs on the connection's first read in the
    request thread (app/local_tls.py), so it is bounded too.
    """
    return type("TimedRequestHandler", (WSGIRequestHandler,), {"timeout": seconds})
