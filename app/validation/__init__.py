"""Tracking-plan validation: parse a plan, compile it once, and judge events against it.

Pure Python on top of jsonschema; nothing here touches Flask, Celery or the database.
"""

from .canonical import canonical_json, payload_hash
from .compiler import CompiledPlan, compile_plan
from .patterns import compile_pattern
from .plan import Plan, PlanError, PlanTooLarge, parse_plan
from .verdict import INVALID, UNPLANNED, VALID, Verdict

__all__ = [
    "INVALID",
    "UNPLANNED",
    "VALID",
    "CompiledPlan",
    "Plan",
    "PlanError",
    "PlanTooLarge",
    "Verdict",
    "canonical_json",
    "compile_pattern",
    "compile_plan",
    "parse_plan",
    "payload_hash",
]
