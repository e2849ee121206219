"""What checking a run's events against property constraints costs (app/validation/
expectations.py), per event and per (event, property) check, for matching and broken events,
with and without patterns: the figures behind MAX_PROPERTY_CHECKS and
MAX_CONSTRAINED_PROPERTIES.

    .venv/bin/python -m benchmarks.expectation_checks
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from app.validation.expectations import Budget, RunEvent, check, parse_expectations

EVENTS = 200


def measure(properties: int, broken: bool, patterns: bool) -> str:
    """One row: the check of EVENTS events of one name with `properties` constraints."""
    constraints = {
        f"p{i}": {"type": "string", "pattern": f"^(a|b|c)*x{i}$"} if patterns else {}
        for i in range(properties)
    }
    expectations = parse_expectations({"expect": [{"event": "E", "properties": constraints}]})
    sent = {} if broken else {f"p{i}": f"abx{i}" for i in range(properties)}
    now = datetime.now(UTC)
    events = [RunEvent(i, "E", "valid", sent, now) for i in range(EVENTS)]
    started = time.perf_counter()
    check(expectations, events, {("E", "valid"): EVENTS}, 0, Budget(10**9))
    seconds = time.perf_counter() - started
    return (
        f"{properties:>4} properties, {'broken' if broken else 'matching':8}, "
        f"{'patterns' if patterns else 'no pattern':10}: {seconds / EVENTS * 1000:6.2f} ms/event, "
        f"{seconds / EVENTS / properties * 1e6:6.1f} µs/check"
    )


if __name__ == "__main__":
    for properties in (10, 50, 100):
        for broken in (False, True):
            print(measure(properties, broken, patterns=True))
    print(measure(100, True, patterns=False))
