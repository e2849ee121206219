"""The result of validating one event against a compiled plan."""

from dataclasses import dataclass, field
from typing import Any

VALID = "valid"
INVALID = "invalid"
UNPLANNED = "unplanned"
DUPLICATE = "duplicate"
REJECTED = "rejected"
# The status a stored event has (a duplicate is answered but never stored; a rejected one is
# never judged).
STATUSES = (VALID, INVALID, UNPLANNED)
# The stored statuses of an event that broke the plan.
FAILING = (INVALID, UNPLANNED)
# Every answer ingestion gives one event, as counted by the metrics and per request.
ANSWERS = (*STATUSES, DUPLICATE, REJECTED)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Outcome of a validation: status, sorted violation dicts, and whether to block."""

    status: str
    violations: list[dict[str, Any]] = field(default_factory=list)
    blocked: bool = False

    @property
    def ok(self) -> bool:
        """True when the event is planned and matches its schema."""
        return self.status == VALID

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of the verdict."""
        return {
            "status": self.status,
            "violations": [dict(v) for v in self.violations],
            "blocked": self.blocked,
        }
