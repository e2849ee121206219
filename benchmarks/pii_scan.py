"""What looking for personal data costs per event (app/validation/pii.py): the scan alone, and
against preparing the same native event without it (verdicts.prepare_native with the policy
`off`: checks, judgement, hash, task id), for a clean event, one carrying personal data, and the
largest scan the bounds allow. The figures in docs/pii.md come from here.

    .venv/bin/python -m benchmarks.pii_scan
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from app.services.ingestion.app_directory import AppEntry
from app.services.ingestion.verdicts import RequestInfo, prepare_native
from app.validation import compile_plan, pii
from app.validation.verdict import VALID, Verdict

PLAN = {
    "events": {
        "purchase": {
            "type": "object",
            "properties": {
                "order_id": {"type": "string"},
                "price": {"type": "number", "minimum": 0},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "app_version": {"type": "string"},
                "placed_at": {"type": "string"},
                "coupon": {"type": "string"},
                "note": {"type": "string"},
                "contact": {"type": "string", "pii": True},
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                    },
                },
            },
            "required": ["price", "currency"],
        }
    }
}
CLEAN = {
    "eventName": "purchase",
    "messageId": "0d5f6c3e-8a4b-4c1e-9a57-2f1d3c4b5a69",
    "order_id": "ORD-2024-000123",
    "price": 19.99,
    "currency": "EUR",
    "app_version": "10.0.19045.2965",
    "placed_at": "2024-01-15T10:30:00Z",
    "coupon": "SPRING24",
    "note": "gift wrap, leave at the door",
    "contact": "ann@example.com",
    "items": [{"sku": "SKU-1", "qty": 1}, {"sku": "SKU-22", "qty": 2}],
}
LEAKY = {
    **CLEAN,
    "note": "call me on +44 20 7946 0958 or mail ann@example.com",
    "coupon": "4242 4242 4242 4242",
}
# The bounds' worst case: as many strings as are read, each as long as the characters read
# allow and dense with matches (phone numbers: the most costly kind found so far).
WORST = {
    "eventName": "purchase",
    **{
        f"p{i}": ("+1 (555) 123-4567 " * 10)[: pii.MAX_CHARS // pii.MAX_STRINGS]
        for i in range(pii.MAX_STRINGS)
    },
}
ROUNDS = 2_000


def _per_event(work, rounds: int) -> float:
    """µs per call of `work`, the best of three runs of `rounds` calls."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(rounds):
            work()
        best = min(best, (time.perf_counter() - started) / rounds)
    return best * 1e6


def measure(name: str, event: dict, rounds: int) -> str:
    """One row: the scan (pii.judged on a valid verdict) and prepare_native without it."""
    plan = compile_plan(PLAN, version=1)
    allowed = plan.pii_allowed("purchase")
    properties = {k: v for k, v in event.items() if k not in ("eventName", "messageId")}
    verdict = Verdict(VALID)

    def info(policy: str) -> RequestInfo:
        entry = AppEntry(app_id=1, plan=plan, pii_policy=policy)
        return RequestInfo(entry, "wk", datetime.now(UTC), None, b"secret", 10**7)

    off, warn = info("off"), info("warn")
    scan = _per_event(
        lambda: pii.judged(verdict, properties, "/properties", allowed, "warn", 1), rounds
    )
    prepare_off = _per_event(lambda: prepare_native(event, off), rounds)
    prepare_warn = _per_event(lambda: prepare_native(event, warn), rounds)
    findings = len(pii.scan(properties, "/properties", allowed))
    return (
        f"{name:28} findings {findings:>2}: scan {scan:8.1f} µs, prepare_native without it "
        f"{prepare_off:8.1f} µs (ratio {scan / prepare_off:5.2f}), with it {prepare_warn:8.1f} µs"
    )


if __name__ == "__main__":
    print(measure("clean event (9 properties)", CLEAN, ROUNDS))
    print(measure("PII-carrying event", LEAKY, ROUNDS))
    print(measure(f"worst case ({pii.MAX_STRINGS} strings)", WORST, 20))
