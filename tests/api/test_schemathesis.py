"""Schemathesis against a real gunicorn (full profile): requests generated from /openapi.json for
every operation, each answer checked against the document (no 5xx; documented status code,
content type and response schema). Derandomized and small, so it is quick and repeatable.

The generated path ids are replaced by a real app's id and write key, and the read key or the
write key goes in the header each operation's security names, so the requests reach the code
behind the authentication rather than all stopping at 401/404.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from requests.auth import _basic_auth_str
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.services.apps import NewApp
from app.services.statistics.aggregates import count_new_events
from tests.api.helpers import store
from tests.support.profiles import add_app

DEMO_PLAN = json.loads(
    (Path(__file__).resolve().parents[2] / "app" / "validation" / "demo_plan.json").read_text()
)
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 14,
        "generation": {"mode": "positive", "max-examples": 8, "deterministic": True},
        # Fuzzing only, so max-examples bounds the requests of every operation.
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "stateful": {"enabled": False},
        },
    }
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


TEST_RUN = "schemathesis"
# Stored before the run, so the read API answers with rows (and their schemas are checked):
# one valid, one invalid and one unplanned event of a test run; app version 2.0 breaks a rule
# 1.0 kept (a regression).
STORED = [
    {"eventName": "user_login", "userId": 1, "context": {"app": {"version": "1.0"}}},
    {"eventName": "user_login", "userId": "not a number", "context": {"app": {"version": "2.0"}}},
    {"eventName": "mystery", "context": {"app": {"version": "2.0"}}},
]
# The first request of these operations gets values that succeed, so the success answer's
# schema is checked too (generated ones would only name versions or events that do not exist).
KNOWN_GOOD = {
    ("GET", "/api/apps/{app_id}/regressions"): {"query": {"base": "1.0", "head": "2.0"}},
    ("POST", "/api/apps/{app_id}/plan/infer"): {"body": {"events": ["mystery"]}},
    # A plan with findings and changes, so both answers' item schemas are checked.
    ("POST", "/api/apps/{app_id}/plan/lint"): {"body": {"events": {"a": {}, "A": {}}}},
    ("POST", "/api/apps/{app_id}/plan/diff"): {"body": {"events": {"a": {}, "A": {}}}},
    # The published plan's code, and a draft's (generated ones name no version or no plan).
    ("GET", "/api/apps/{app_id}/plan/code"): {"query": {"language": "typescript"}},
    ("POST", "/api/apps/{app_id}/plan/code"): {
        "query": {"language": "python"},
        "body": {"events": {"a": {"type": "object", "properties": {"b": {"type": "string"}}}}},
    },
}
# Operations that must have answered 2xx at least once (their success schema was checked).
MUST_SUCCEED = {
    ("GET", "/api/test-runs/{test_run}"),
    ("GET", "/api/apps/{app_id}/test-runs"),
    ("GET", "/api/apps/{app_id}/overview"),
    ("GET", "/api/apps/{app_id}/plan/observed"),
    ("GET", "/v1/projects/{write_key}/settings"),
    ("GET", "/api/app"),
    *KNOWN_GOOD,
}


@dataclass(frozen=True)
class Target:
    """The app the generated requests are aimed at, and a task id of a stored event."""

    new: NewApp
    task_id: str


@pytest.fixture
def target(full_app: Flask) -> Target:
    new = add_app(full_app, plan=DEMO_PLAN)
    messages = store(full_app, new, STORED, headers={"X-Test-Run": TEST_RUN})
    with full_app.app_context():
        for _ in range(2):  # PostgreSQL counts one run behind
            count_new_events()
    return Target(new, messages[-1]["task_id"])


# Hypothesis drives the generation directly (schemathesis's own pytest loader, from_fixture,
# reads an attribute pytest 9 no longer has).
BOUNDS = settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_answers_match_the_document(gunicorn_url: str, target: Target) -> None:
    document = schemathesis.openapi.from_url(f"{gunicorn_url}/openapi.json", config=CONFIG)
    operations = [result.ok() for result in document.get_all_operations()]
    assert len(operations) >= 25  # every documented operation is exercised, not a few
    failures = []
    succeeded: set[tuple[str, str]] = set()
    for operation in operations:

        @BOUNDS
        @given(case=operation.as_strategy())
        def check(case) -> None:
            key = (case.method.upper(), case.path)
            if key in KNOWN_GOOD and key not in succeeded:
                for attribute, value in KNOWN_GOOD[key].items():
                    setattr(case, attribute, value)
            if _call(case, gunicorn_url, target) < 300:
                succeeded.add(key)

        try:
            check()
        # Collected: one operation's failure hides no other's (schemathesis's FailureGroup is a
        # BaseExceptionGroup, not an Exception).
        except (Exception, BaseExceptionGroup) as failure:
            failures.append(f"{operation.label}: {failure}")
    assert not failures, "\n\n".join(failures)
    assert MUST_SUCCEED <= succeeded, MUST_SUCCEED - succeeded


def _call(case, base_url: str, target: Target) -> int:
    """Send the case to the real app with its credentials, check the answer; its status."""
    parameters = case.path_parameters or {}
    for name, value in {
        "app_id": target.new.app.id,
        "app_key": target.new.app.write_key,
        "write_key": target.new.app.write_key,
        "task_id": target.task_id,
        "test_run": TEST_RUN,
    }.items():
        if name in parameters:
            parameters[name] = value
    headers = {}
    needs = case.operation.definition.raw.get("security", [])
    schemes = {name for need in needs for name in need}
    if "readKey" in schemes:
        headers["Authorization"] = f"Bearer {target.new.read_key}"
    elif "writeKeyBasic" in schemes:
        headers["Authorization"] = _basic_auth_str(target.new.app.write_key, "")
    return case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS).status_code
