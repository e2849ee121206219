"""jsonschema validator classes whose regular-expression keywords run on RE2 (patterns.py).

jsonschema calls Python's `re` for `pattern`, `patternProperties`, the property names
`additionalProperties` lets through and the `regex` format; each dialect gets a class, made with
`jsonschema.validators.extend`, that judges those with RE2 instead. (`unevaluatedProperties`
also matches `patternProperties` with `re`, deep inside jsonschema: plans combining the two are
refused at save time, see plan.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from jsonschema import FormatChecker, ValidationError
from jsonschema._utils import extras_msg
from jsonschema.protocols import Validator
from jsonschema.validators import extend

from .patterns import LinearPattern, PatternError, compile_pattern, is_linear_regex


@cache
def linear_dialect(base: type[Validator]) -> type[Validator]:
    """The validator class of `base`'s dialect with every regex judged by RE2."""
    checker = FormatChecker()
    checker.checkers = {**base.FORMAT_CHECKER.checkers}
    checker.checks("regex")(is_linear_regex)
    return extend(
        base,
        validators={
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
        format_checker=checker,
    )


@cache
def schema_format_checker(base: type[Validator]) -> FormatChecker:
    """`base`'s format checker without `regex`, for checking plans against the meta-schema:
    patterns are checked by RE2 with a clearer message (plan.py), and a stored plan written
    for Python's `re` still loads."""
    checker = FormatChecker()
    checker.checkers = {k: v for k, v in base.FORMAT_CHECKER.checkers.items() if k != "regex"}
    return checker


def _compiled(pattern: str) -> LinearPattern | str:
    """The compiled pattern, or why RE2 cannot run it (plans saved before RE2 was the engine)."""
    try:
        return compile_pattern(pattern)
    except PatternError as exc:
        return str(exc)


def _unrunnable(pattern: str, reason: str) -> ValidationError:
    return ValidationError(
        f"pattern {pattern} cannot be judged: {reason}; publish a plan without it"
    )


def _pattern(validator: Validator, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "string"):
        return
    regex = _compiled(pattern)
    if isinstance(regex, str):
        yield _unrunnable(pattern, regex)
    elif not regex.search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Validator, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = _compiled(pattern)
        if isinstance(regex, str):
            yield _unrunnable(pattern, regex)
            continue
        for key, value in instance.items():
            if regex.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Validator, allowed: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[Any]:
    # jsonschema's own, with the property names matched by RE2.
    if not validator.is_type(instance, "object"):
        return
    extras = set(additional_properties(instance, schema))
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {patterns}")
        else:
            error = "Additional properties are not allowed (%s %s unexpected)"
            yield ValidationError(error % extras_msg(sorted(extras, key=str)))


def additional_properties(instance: dict[str, Any], schema: dict[str, Any]) -> Iterator[str]:
    """The names in instance that neither `properties` nor `patternProperties` declare."""
    declared = schema.get("properties", {})
    regexes = [_compiled(p) for p in schema.get("patternProperties", {})]
    linear = [r for r in regexes if not isinstance(r, str)]  # unrunnable ones match nothing
    for name in instance:
        if name not in declared and not any(regex.search(name) for regex in linear):
            yield name
