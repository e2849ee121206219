"""What the Kotlin and Swift generators share: both turn each property into a typed parameter,
so both decide alike which properties are parameters, in what order, and how a type no
parameter type can hold is described in the doc comment."""

from __future__ import annotations

from .model import (
    AnyValue,
    ArrayOf,
    Const,
    ObjectDef,
    Primitive,
    Property,
    Ref,
    Scalar,
    TrackingModel,
    TypeNode,
    UnionOf,
    inline_maps,
    one_line,
    without_null,
)


def shown(value: Scalar) -> str:
    """A value as JSON-like text for doc comments."""
    if isinstance(value, str):
        return '"' + one_line(value) + '"'
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    return str(value)


def same_kind_consts(node: UnionOf) -> bool:
    """Whether every variant is a constant of one JSON type (typed as that type)."""
    kinds = {v.kind for v in node.variants if isinstance(v, Const)}
    return all(isinstance(v, Const) for v in node.variants) and len(kinds) == 1


class ParameterWriter:
    """The language-neutral half of a Kotlin or Swift writer."""

    def __init__(self, model: TrackingModel) -> None:
        self.model = model
        self.maps = inline_maps(model)

    def _fixed(self, prop: Property) -> bool:
        """A required property with one possible value: sent without a parameter."""
        return prop.required and (isinstance(prop.type, Const) or prop.type == Primitive("null"))

    def _flag(self, prop: Property) -> bool:
        """An optional property with one possible value: a boolean parameter, true sends it."""
        return not prop.required and isinstance(prop.type, Const)

    def _is_empty_object(self, name: str) -> bool:
        """An object declaring no properties: a map (see _map_values) or any JSON object."""
        found = self.model.definition(name)
        return isinstance(found, ObjectDef) and not found.properties

    def _map_values(self, name: str) -> TypeNode | None:
        """The value type of an object that declares no property but a schema for the values
        of any key: a map of it (None when it would contain the map again: see inline_maps)."""
        return self.maps.get(name)

    def _params(self, obj: ObjectDef) -> list[Property]:
        """The properties a caller passes: required first, then optional (wire-name order)."""
        props = [p for p in obj.properties if not self._fixed(p)]
        return [p for p in props if p.required] + [p for p in props if not p.required]

    def describe(self, node: TypeNode) -> str | None:
        """What the type cannot say on its own, for the doc comment (None: nothing)."""
        rest, _ = without_null(node)
        if isinstance(rest, Const):
            return f"Must be {shown(rest.value)}."
        if isinstance(rest, UnionOf):
            if same_kind_consts(rest):
                values = ", ".join(shown(v.value) for v in rest.variants)  # type: ignore[union-attr]
                return f"One of {values}."
            return f"Any of: {' | '.join(self._variant(v) for v in rest.variants)}."
        if isinstance(rest, AnyValue):
            return "Any JSON value."
        return None

    def _variant(self, node: TypeNode) -> str:
        if isinstance(node, Const):
            return shown(node.value)
        if isinstance(node, Primitive):
            return node.kind
        if isinstance(node, ArrayOf):
            return "array"
        if isinstance(node, Ref):
            return "object" if isinstance(self.model.definition(node.name), ObjectDef) else "string"
        return "any"
