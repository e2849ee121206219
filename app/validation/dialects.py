"""jsonschema validator classes whose regular-expression keywords run on RE2 (patterns.py), and
whose `uniqueItems` and `multipleOf` cannot be made slow or crash by an event.

jsonschema calls Python's `re` for `pattern`, `patternProperties`, the property names
`additionalProperties` lets through and the `regex` format; each dialect gets a class, made with
`jsonschema.validators.extend`, that judges those with RE2 instead. (`unevaluatedProperties`
also matches `patternProperties` with `re`, deep inside jsonschema: plans combining the two are
refused at save time, see plan.py.)

jsonschema's `uniqueItems` compares items pairwise when they cannot be sorted (objects): ~6 s of
CPU for 2,700 small objects. Here each item gets a hashable key with JSON Schema equality, in a
set. Its `multipleOf` divides as floats, which overflows on a 400-digit integer and calls 0.07 not
a multiple of 0.01; here both numbers are taken at their decimal value, as exact fractions. Its
`enum` compares the instance with each value in turn (~20 ms against 20,000 values) and quotes
them all in its message; here an enum's keys are a set, made once per enum.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from functools import cache, lru_cache
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
            "uniqueItems": _unique_items,
            "enum": _enum,
            "multipleOf": _multiple_of,
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


def _unique_items(validator: Validator, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not unique or not validator.is_type(instance, "array"):
        return
    first: dict[Any, int] = {}
    for index, item in enumerate(instance):
        key = json_key(item)
        if key in first:
            yield ValidationError(f"has non-unique elements: [{first[key]}] and [{index}]")
            return
        first[key] = index


def json_key(value: Any) -> Any:
    """A hashable key equal for JSON-equal values: 1 == 1.0, true != 1, objects regardless of
    key order, arrays by order."""
    # Python already hashes and compares 1 and 1.0 alike (exactly, also for huge integers);
    # the tags keep booleans apart from numbers and each JSON type apart from the others.
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)
    if isinstance(value, dict):
        return ("o", frozenset((name, json_key(item)) for name, item in value.items()))
    if isinstance(value, (list, tuple)):
        return ("a", tuple(json_key(item) for item in value))
    return ("s" if isinstance(value, str) else "z", value)


def _multiple_of(validator: Validator, divisor: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "number") or not divisor > 0:  # the meta-schema's rule
        return
    if (exact(instance) / exact(divisor)).denominator != 1:
        yield ValidationError(f"{instance!r} is not a multiple of {divisor}")


def exact(number: int | float) -> Fraction:
    """The number's decimal value as written (a float by its shortest repr: 0.01 is 1/100)."""
    return Fraction(repr(number)) if isinstance(number, float) else Fraction(number)


def _enum(validator: Validator, values: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not isinstance(values, list):  # the meta-schema's rule; jsonschema's own skips nothing
        return
    if json_key(instance) not in _keys(_Same(values)):
        yield ValidationError(f"value is not one of the {len(values)} allowed")


class _Same:
    """A list hashed by identity, so an enum's keys are cached while its schema lives."""

    __slots__ = ("value",)

    def __init__(self, value: list[Any]) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value


@lru_cache(maxsize=1024)
def _keys(values: _Same) -> frozenset[Any]:
    # The cache holds the list, so its id is not reused while its entry lives.
    return frozenset(json_key(value) for value in values.value)
