"""Compile a plan once into reusable validators, and validate events with them."""

import json
from functools import lru_cache
from typing import Any

from fastjsonschema import JsonSchemaException
from jsonschema import ValidationError
from jsonschema.protocols import Validator

from .canonical import canonical_json
from .fast_check import fast_check
from .pii import allowed_tree
from .plan import Plan, PlanError, dialect_for, linear_problem, parse_plan
from .schema_walk import prepare_schema
from .verdict import INVALID, UNPLANNED, VALID, Verdict
from .violations import unplanned_violation, violations_from_errors


class CompiledPlan:
    """A parsed plan with one ready validator per event; safe to share between threads."""

    __slots__ = (
        "_block_unplanned",
        "_fast",
        "_pii_allowed",
        "_pii_type_allowed",
        "_type_validators",
        "_validators",
        "event_names",
        "plan",
        "version",
    )

    def __init__(self, plan: Plan, version: int) -> None:
        self.plan = plan
        self.version = version
        # compile_plan parses canonical JSON, so this is in sorted order.
        self.event_names: tuple[str, ...] = tuple(plan.events)
        self._block_unplanned = plan.unplanned_events == "block"
        forbid = plan.additional_properties == "flag"
        self._validators = {
            name: _validator(name, schema, forbid) for name, schema in plan.events.items()
        }
        self._type_validators = {
            name: _validator(name, schema, forbid) for name, schema in plan.types.items()
        }
        # Where each event allows personal data ("pii": true), worked out once per plan.
        self._pii_allowed = {name: allowed_tree(s) for name, s in plan.events.items()}
        self._pii_type_allowed = {name: allowed_tree(s) for name, s in plan.types.items()}
        # Compiled yes/no checks, keyed by validator: most events are valid and pass here.
        self._fast = {
            id(v): check
            for v in (*self._validators.values(), *self._type_validators.values())
            if (check := fast_check(v.schema, type(v))) is not None
        }

    def __repr__(self) -> str:
        return f"<CompiledPlan version={self.version} events={len(self.event_names)}>"

    def has_event(self, event_name: str) -> bool:
        """Whether event_name is declared in the plan."""
        return event_name in self._validators

    def pii_allowed(self, event_name: str) -> dict:
        """The paths where a planned event may hold personal data (pii.allowed_tree); {}
        for an unplanned one."""
        return self._pii_allowed.get(event_name, {})

    def pii_allowed_type(self, message_type: str) -> dict:
        """The same for an identify/group/page/alias message, by type."""
        return self._pii_type_allowed.get(message_type, {})

    def validate(
        self,
        event_name: str,
        properties: Any,
        root: str = "/properties",
        name_pointer: str = "/eventName",
    ) -> Verdict:
        """Validate one event's properties; unplanned events are not property-checked."""
        validator = self._validators.get(event_name)
        if validator is None:
            violation = unplanned_violation(event_name, name_pointer, self.version)
            return Verdict(UNPLANNED, [violation], self._block_unplanned)
        violations = self._check(validator, properties, root)
        return Verdict(INVALID if violations else VALID, violations, False)

    def validate_type(self, message_type: str, subject: Any, root: str) -> Verdict:
        """Validate an identify/group/page/alias message by type; valid when the plan is silent."""
        validator = self._type_validators.get(message_type)
        if validator is None:
            return Verdict(VALID, [], False)
        violations = self._check(validator, subject, root)
        return Verdict(INVALID if violations else VALID, violations, False)

    def validate_schema_only(
        self, event_name: str, properties: Any, root: str = "/properties"
    ) -> list[dict[str, Any]]:
        """The violations of properties against a planned event's schema (KeyError: unplanned)."""
        return self._check(self._validators[event_name], properties, root)

    def matches(self, event_name: str, properties: Any) -> bool:
        """Whether properties meet a planned event's schema, the look ending at the first
        violation (listing every one of them costs far more on a badly broken event)."""
        validator = self._validators[event_name]
        fast = self._fast.get(id(validator))
        try:
            if fast is not None:
                try:
                    fast(properties)
                    return True
                except (JsonSchemaException, ArithmeticError):
                    pass  # jsonschema judges, as in _judge
            return next(iter(validator.iter_errors(properties)), None) is None
        except RecursionError:
            return False

    def endless_events(self) -> list[str]:
        """Events and types whose schema recurses without end (a `$ref` that leads back to
        itself without consuming the instance) on one of a few simple instances."""
        named = (*self._validators.items(), *self._type_validators.items())
        return [name for name, v in named if any(self._recurses(v, p) for p in _PROBES)]

    def _recurses(self, validator: Validator, instance: Any) -> bool:
        try:
            self._judge(validator, instance, "")
        except RecursionError:
            return True
        return False

    def _check(self, validator: Validator, properties: Any, root: str) -> list[dict[str, Any]]:
        try:
            return self._judge(validator, properties, root)
        except RecursionError:
            # A schema that refers to itself without end (saved before saving refused them):
            # the event is judged invalid with the reason, never a server error.
            error = ValidationError(
                ENDLESS, validator="plan", validator_value="$ref", instance=properties
            )
            return violations_from_errors([error], root, self.version)

    def _judge(self, validator: Validator, properties: Any, root: str) -> list[dict[str, Any]]:
        fast = self._fast.get(id(validator))
        if fast is not None:
            try:
                fast(properties)
                return []
            except (JsonSchemaException, ArithmeticError):
                # jsonschema lists every violation; an arithmetic error (a number beyond a
                # float) is its to judge too, never a server error.
                pass
        return violations_from_errors(validator.iter_errors(properties), root, self.version)


ENDLESS = (
    "Judging this event recursed too deep: its schema may refer to itself without end ($ref); "
    "publish a fixed plan"
)
# Instances on which a schema whose `$ref` loops back without consuming anything recurses.
_PROBES: tuple[Any, ...] = (None, True, 0, "", [], {}, [[]], {"a": {}})


def _validator(name: str, schema: dict[str, Any], forbid_additional: bool) -> Validator:
    cls = dialect_for(name, schema)
    problem = linear_problem(schema)
    if problem is not None:  # a version saved before the check existed
        return _Unjudgeable(name, problem)  # type: ignore[return-value]
    return cls(prepare_schema(schema, forbid_additional), format_checker=cls.FORMAT_CHECKER)


class _Unjudgeable:
    """Stands in for the validator of an event whose schema the linear-time engine cannot run:
    every event of that name is invalid, with a violation that says why."""

    def __init__(self, name: str, problem: str) -> None:
        self.schema: dict[str, Any] = {}
        self._message = f"Event '{name}' cannot be judged: {problem}; publish a fixed plan"
        self._problem = problem

    def iter_errors(self, instance: Any) -> list[ValidationError]:
        """One error naming the problem, whatever the instance."""
        return [
            ValidationError(
                self._message, validator="plan", validator_value=self._problem, instance=instance
            )
        ]


def compile_plan(plan: Any, version: int) -> CompiledPlan:
    """Parse and compile a plan; an equal (canonical plan, version) returns the cached object."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError(f"version must be an int, got {type(version).__name__}")
    try:
        text = canonical_json(plan)
    except (TypeError, ValueError) as exc:
        raise PlanError(f"The tracking plan is not valid JSON data: {exc}") from None
    return _compile_canonical(text, version)


@lru_cache(maxsize=256)
def _compile_canonical(text: str, version: int) -> CompiledPlan:
    # Parsing the canonical text (not the caller's dict) means the cached
    # object shares nothing mutable with any caller.
    # saving=False: a stored version compiles even if it predates today's save-time checks.
    return CompiledPlan(parse_plan(json.loads(text), saving=False), version)
