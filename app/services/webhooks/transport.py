"""One POST of a webhook's body: to an address resolved and checked just before connecting
(so a name that changes between the check and the send cannot reach a private address), with a
connect and a read timeout, no redirects and a few hundred bytes of the answer read at most."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import urllib3
from urllib3.exceptions import HTTPError

from app.errors import ServiceError
from app.services.webhooks import urls

# What is read of an answer, for the delivery log's error: receivers' bodies are not ours.
MAX_ANSWER_BYTES = 300
MAX_ERROR_LENGTH = 300
# A Retry-After beyond this is not waited for (the delivery is retried at this interval).
MAX_RETRY_AFTER_SECONDS = 3600


@dataclass(frozen=True)
class Answer:
    """What came of one attempt: the status (None: no answer), a short error, whether trying
    again may help, and the receiver's Retry-After in seconds (429 and 503)."""

    status: int | None
    error: str | None
    retryable: bool
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds from `now`, capped; None when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = (parsedate_to_datetime(value) - now).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class _Watched:
    """A pool that keeps its connections, so a deadline can cut them off mid-answer: the read
    timeout bounds each read, and a receiver that trickles a byte before each one would hold
    the worker for as long as it liked."""

    def _new_conn(self):  # urllib3's hook: every connection the pool opens
        conn = super()._new_conn()  # type: ignore[misc]
        self.opened.append(conn)
        return conn

    def cut_off(self) -> None:
        """Shut every connection's socket: a read in progress ends at once (as if the answer
        ended there, so `late` tells the caller not to believe what was read)."""
        self.late.set()
        for conn in self.opened:
            sock = getattr(conn, "sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # closed already


class _HttpPool(_Watched, urllib3.HTTPConnectionPool):
    opened: list
    late: threading.Event


class _HttpsPool(_Watched, urllib3.HTTPSConnectionPool):
    opened: list
    late: threading.Event


def _pool(target: urls.Target, address: str, timeout: float) -> urllib3.HTTPConnectionPool:
    options = {
        "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        "retries": False,  # retries are the delivery's business, spaced by its backoff
        "maxsize": 1,
    }
    if target.scheme == "https":
        # Connect to the checked address, but verify the certificate for the URL's host.
        pool = _HttpsPool(
            address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            **options,
        )
    else:
        pool = _HttpPool(address, target.port, **options)
    pool.opened, pool.late = [], threading.Event()
    return pool


def _too_late(timeout: float) -> Answer:
    return Answer(None, f"no answer within {2 * timeout:g} s", retryable=True)


def post(
    url: str, body: bytes, headers: dict[str, str], timeout: float, private_addresses: str
) -> Answer:
    """POST `body` to `url` once and say what came of it (never raises for the receiver's
    sake: every failure is an Answer)."""
    try:
        target = urls.parse(url)
        address = urls.resolve(target, private_addresses)[0]
    except ServiceError as exc:
        # A name that does not resolve may resolve later; a refused address never will.
        return Answer(None, _short(exc.message), retryable=exc.code == "unresolved_webhook_host")
    pool = _pool(target, address, timeout)
    # The whole attempt (connect, send, the answer's status line, headers and the bytes read
    # of it) ends within two timeouts, however slowly the receiver answers.
    deadline = threading.Timer(2 * timeout, pool.cut_off)
    deadline.daemon = True
    deadline.start()
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": target.host_header},
            redirect=False,
            assert_same_host=False,
            preload_content=False,
        )
        try:
            status = response.status
            if pool.late.is_set():  # cut off: what was read looks whole but is not the answer
                return _too_late(timeout)
            if 200 <= status < 300:
                return Answer(status, None, retryable=False)
            snippet = response.read(MAX_ANSWER_BYTES).decode("utf-8", "replace")
            wait = retry_after_seconds(response.headers.get("Retry-After"), datetime.now(UTC))
        finally:
            response.release_conn()
    except (HTTPError, OSError) as exc:
        if pool.late.is_set():
            return _too_late(timeout)
        return Answer(None, _short(f"{type(exc).__name__}: {exc}"), retryable=True)
    finally:
        deadline.cancel()
        pool.close()
    if pool.late.is_set():  # cut off while the error's snippet was read
        return _too_late(timeout)
    if 300 <= status < 400:
        where = response.headers.get("Location", "")
        return Answer(status, _short(f"redirect to {where} not followed"), retryable=False)
    error = _short(f"HTTP {status}: {snippet}" if snippet.strip() else f"HTTP {status}")
    return Answer(status, error, retryable=status >= 500 or status == 429, retry_after=wait)
