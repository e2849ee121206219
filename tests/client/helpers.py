"""Answers of the service in the shapes of the issue-16 contract (docs/cli.md), for the pure
rendering tests of the CI client, and the schema its JUnit XML is checked against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xmlschema

# The Jenkins xUnit plugin's JUnit schema (its source is in the file's header).
JUNIT_XSD = xmlschema.XMLSchema(Path(__file__).with_name("junit-10.xsd"))
HOSTILE = 'Order | Done <script>alert("x")</script> ]]> \x01\x1b[31m @admins\n::error ::boom'


def event(event_id: int, name: str, status: str, violations: list[dict] | None) -> dict[str, Any]:
    """An event as the read API lists it (only the fields the client reads are meaningful)."""
    return {
        "id": event_id,
        "type": "track",
        "event_name": name,
        "status": status,
        "errors": violations,
        "payload": {},
        "test_run": "r",
    }


def violation(path: str, message: str, rule: str = "type") -> dict[str, Any]:
    return {"path": path, "rule": rule, "expected": None, "actual": None, "message": message}


def report(
    *,
    run: str = "checkout-42",
    results: list[dict] | None = None,
    failures: list[dict] | None = None,
    accepted: int = 3,
    pending: int = 0,
    blocked: int = 0,
    passed: bool | None = None,
) -> dict[str, Any]:
    """A run report (D's settlement, E's expectations); `results` None: no expectations."""
    failures = failures or []
    if passed is None:
        met = all(r["met"] for r in results) if results is not None else not failures
        passed = met and not blocked
    counts = {
        "valid": accepted - pending - len(failures),
        "invalid": sum(1 for e in failures if e["status"] == "invalid"),
        "unplanned": sum(1 for e in failures if e["status"] == "unplanned"),
    }
    return {
        "test_run": run,
        "passed": passed,
        "status": "PASSED" if passed else "FAILED",
        "total": accepted - pending,
        "counts": counts,
        "app_id": 1,
        "closed_at": None,
        "late": None,
        "failures": failures,
        "settlement": {
            "accepted": accepted,
            "stored": accepted - pending,
            "dead_lettered": 0,
            "blocked": blocked,
            "pending": pending,
            "settled": pending == 0,
        },
        "expectations": {
            "met": None if results is None else all(r["met"] for r in results),
            "results": results or [],
        },
    }


def result(kind: str, title: str, met: bool, message: str, events: list | None = None) -> dict:
    """One expectation result."""
    return {
        "id": f"{kind}:{title}",
        "kind": kind,
        "title": title,
        "met": met,
        "message": message,
        "events": events or [],
    }


def failing_purchase_report() -> dict[str, Any]:
    """A run with one expectation met, one not: invalid event #7 (a purchase whose price is
    not a number), the one failing event."""
    bad = event(
        7, "purchase", "invalid", [violation("/properties/price", "price must be a number")]
    )
    return report(
        results=[
            result("present", "purchase appears", True, "seen 1 time"),
            result("invalid", "no invalid event", False, "1 invalid event", [bad]),
        ],
        failures=[bad],
    )
