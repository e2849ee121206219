"""The service's HTTP API over urllib: JSON in and out, errors as exceptions with the
service's `{"code", "message"}`."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

from lvd import __version__

DEFAULT_URL = "http://127.0.0.1:8080"
# Seconds of one long-poll: under the service's default TASK_WAIT_MAX_SECONDS (30), which caps
# `?wait=`; an installation with a lower cap says so in its 400, and is then asked within it.
LONG_POLL = 25
# Time a plain request may take before the client gives up on the service.
REQUEST_TIMEOUT = 60
MAX_RETRY_AFTER = 10  # seconds: a 429's Retry-After is honoured up to this
# The service's answer to a `?wait=` above its TASK_WAIT_MAX_SECONDS.
_WAIT_CAP = re.compile(r"wait must be between 0 and (\d+)\.")


class ApiError(Exception):
    """The service answered an error status."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


class Unreachable(Exception):
    """No answer from the service (refused, timed out, not HTTP)."""


class Api:
    """Calls to one service with one key."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.long_poll_step = LONG_POLL

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        raw: bytes | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> Any:
        """The JSON answer of one request (ApiError for an error status, Unreachable when the
        service does not answer)."""
        target = self.url + path
        if query:
            target += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        headers = {
            "Authorization": f"Bearer {self.key}",
            "Accept": "application/json",
            "User-Agent": f"lvd/{__version__}",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(target, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return _json(response.read(), response.status)
        except urllib.error.HTTPError as error:
            with error:
                raise _api_error(error)
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise Unreachable(f"cannot reach the service at {self.url}: {reason}")

    def long_poll(self, path: str, query: dict[str, Any], deadline: float) -> Any:
        """GET `path` with `?wait=` up to the time left before `deadline` (time.monotonic()),
        retrying a 429 `too_many_waits` after its Retry-After while time is left."""
        while True:
            wait = max(0, min(self.long_poll_step, int(deadline - time.monotonic())))
            try:
                return self.request(
                    "GET", path, query={**query, "wait": wait}, timeout=wait + REQUEST_TIMEOUT
                )
            except ApiError as error:
                cap = _WAIT_CAP.fullmatch(error.message) if error.status == 400 else None
                if cap and int(cap.group(1)) < self.long_poll_step:
                    # An installation with a lower TASK_WAIT_MAX_SECONDS: ask within it.
                    self.long_poll_step = int(cap.group(1))
                    continue
                pause = min(error.retry_after or 1.0, MAX_RETRY_AFTER)
                if error.status != 429 or time.monotonic() + pause >= deadline:
                    raise
                time.sleep(pause)  # the service asked for this pause (Retry-After)

    # The contract's calls, one each.

    def whoami(self) -> dict[str, Any]:
        """The read key's app: {"id", "name", "plan_version"}."""
        return self.request("GET", "/api/app")

    def lint(self, app_id: int, plan_text: str, conventions: dict[str, str | None]) -> dict:
        """The lint findings of a plan document (the file's text, sent as it is)."""
        return self.request(
            "POST", f"/api/apps/{app_id}/plan/lint", query=conventions, raw=plan_text.encode()
        )

    def diff(self, app_id: int, plan_text: str, against: int | None) -> dict:
        """The changes from a saved version (None: the published one) to a plan document."""
        return self.request(
            "POST",
            f"/api/apps/{app_id}/plan/diff",
            query={"against": against},
            raw=plan_text.encode(),
        )

    def push(self, app_id: int, plan_text: str, publish: bool) -> dict:
        """Save a plan document as the next version: {"version", "status"}."""
        query = {"publish": "1"} if publish else None
        return self.request("POST", f"/api/apps/{app_id}/plan", query=query, raw=plan_text.encode())

    def plan_code(self, app_id: int, language: str, version: int | None) -> dict:
        """Typed code of a saved version (None: the published one): {"files": [...], ...}."""
        query = {"language": language, "version": version}
        return self.request("GET", f"/api/apps/{app_id}/plan/code", query=query)

    def draft_code(self, app_id: int, plan_text: str, language: str) -> dict:
        """Typed code of a plan document that is not saved (`plan_version` null)."""
        return self.request(
            "POST",
            f"/api/apps/{app_id}/plan/code",
            query={"language": language},
            raw=plan_text.encode(),
        )

    def start_revalidation(self, app_id: int, plan: dict, since: str) -> dict:
        """Start re-judging the events stored since `since` against a draft plan: the job."""
        body = {"kind": "revalidate", "plan": plan, "since": since}
        return self.request("POST", f"/api/apps/{app_id}/jobs", body=body)

    def job(self, app_id: int, job_id: int, deadline: float) -> dict:
        """The job, once finished or when the long-poll's time is up."""
        return self.long_poll(f"/api/apps/{app_id}/jobs/{job_id}", {}, deadline)

    def run_report(self, run: str, deadline: float) -> dict:
        """The run's report, once settled or when the long-poll's time is up."""
        return self.long_poll("/api/test-runs", {"name": run}, deadline)

    def put_expectations(self, run: str, expectations: Any) -> dict:
        """Set (replace) the run's expectations."""
        return self.request(
            "PUT", "/api/test-runs/expectations", query={"name": run}, body=expectations
        )

    def close_run(self, run: str) -> dict:
        """Close the run: its verdict is judged on the events received until now."""
        return self.request("POST", "/api/test-runs/close", query={"name": run})

    def run_page(self, app_id: int, run: str) -> str:
        """The run's report page in the dashboard."""
        return f"{self.url}/apps/{app_id}/test-runs/report?name={quote(run, safe='')}"


def _json(data: bytes, status: int) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise Unreachable(f"the service answered {status} with a body that is not JSON")


def _api_error(error: urllib.error.HTTPError) -> ApiError:
    try:
        body = json.loads(error.read())
        code, message = str(body["code"]), str(body["message"])
    except (ValueError, KeyError, TypeError, OSError):
        code, message = "http_error", f"HTTP {error.code} {error.reason} (not the service's JSON)"
    retry_after = None
    try:
        retry_after = float(error.headers.get("Retry-After") or "")
    except ValueError:
        pass
    return ApiError(error.code, code, message, retry_after)
