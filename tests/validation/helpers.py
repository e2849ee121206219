from typing import Any

from app.validation import Verdict, compile_plan

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def check(
    schema: dict[str, Any],
    properties: Any,
    version: int = 1,
    root: str = "/properties",
    **policies: Any,
) -> Verdict:
    """Validate properties against a one-event plan whose event is called "e"."""
    return compile_plan({"events": {"e": schema}, **policies}, version=version).validate(
        "e", properties, root=root
    )


def only_violation(schema: dict[str, Any], properties: Any, **kwargs: Any) -> dict[str, Any]:
    """Validate and assert exactly one violation came back; return it."""
    verdict = check(schema, properties, **kwargs)
    assert verdict.status == "invalid", verdict
    assert len(verdict.violations) == 1, verdict.violations
    return verdict.violations[0]
