"""Plans a new app can start from: the demo plan, none (empty), or a file the user brings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.services.plans import versions as plans
from app.validation import PlanError
from app.validation.plan import MAX_PLAN_BYTES, MAX_PLAN_DEPTH, PlanTooLarge

DEMO_PLAN_FILE = Path(__file__).resolve().parents[2] / "validation" / "demo_plan.json"
EMPTY, DEMO, UPLOAD = "empty", "demo", "upload"
# The choices of the "new app" form, in the order shown.
TEMPLATES = {
    EMPTY: "Empty plan (every event unplanned until you add it)",
    DEMO: "The demo plan (user_login, purchase, …)",
    UPLOAD: "Upload a plan file",
}


def template_plan(name: str) -> dict[str, Any] | None:
    """The plan of a named template; None for the empty one (the app starts with no plan)."""
    if name == EMPTY:
        return None
    if name == DEMO:
        return json.loads(DEMO_PLAN_FILE.read_text())
    raise ValueError(f"no plan template {name!r}: choose {EMPTY} or {DEMO}")


def plan_from_file(data: bytes) -> dict[str, Any]:
    """The plan in an uploaded file's bytes, checked as every plan save is; PlanError names the
    problem (size, encoding, JSON, a field of the plan)."""
    if len(data) > MAX_PLAN_BYTES:
        raise PlanTooLarge(
            f"The plan file is {len(data):,} bytes; a plan may be at most {MAX_PLAN_BYTES:,}."
        )
    try:
        body = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise PlanError("The plan file is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise PlanError(f"The plan file is not valid JSON: {exc}") from None
    except RecursionError:  # the parser's own limit, far deeper than plans may nest
        raise PlanError(f"The plan nests deeper than {MAX_PLAN_DEPTH} levels.") from None
    plans.parse(body)
    return body
