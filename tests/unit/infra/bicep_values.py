"""What a value in a parsed Bicep body is known to be before deployment: a literal, or only its kind.

pycep gives string literals as `str` and names (parameters, variables, resources, loop items) as its
`BicepElement` subclass of `str`; expressions are `{"function": ...}` / `{"operator": ...}` trees. A name
is followed where that is easy: a variable to its value, a parameter to its declared type and its
@allowed values. Anything else (function calls, resource properties, loop items) is known at most by kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycep.transformer import BicepElement

# Kinds, as Bicep's primitive types.
STRING, INT, BOOL, OBJECT, ARRAY, NULL = "string", "int", "bool", "object", "array", "null"

# Function results whose kind is fixed (pycep's names for them).
_FUNCTION_KINDS = {
    **dict.fromkeys(("format", "guid", "unique_string", "to_lower", "to_upper", "string", "substring", "replace",
                     "trim", "uri", "uri_component", "join", "pad_left", "load_text_content", "resource_id",
                     "subscription_resource_id", "extension_resource_id", "tenant_resource_id", "utc_now",
                     "new_guid"), STRING),
    **dict.fromkeys(("int", "length", "index_of", "last_index_of"), INT),
    **dict.fromkeys(("bool", "contains", "empty", "starts_with", "ends_with"), BOOL),
}  # fmt: skip
_OPERATOR_KINDS = {
    **dict.fromkeys(("and", "or", "not", "equals", "not_equals", "equals_case_insensitive",
                     "not_equals_case_insensitive", "greater_than", "greater_than_or_equals", "less_than",
                     "less_than_or_equals"), BOOL),
    **dict.fromkeys(("add", "minus", "multiply", "divide", "modulo", "substract"), INT),
}  # fmt: skip

# What Bicep knows of a resource before deploying it.
_KNOWN_AT_START = ("id", "name", "type", "apiVersion")


@dataclass(frozen=True)
class Known:
    """A value known only by kind (None: not even that), and, for a parameter with @allowed, its choices."""

    kind: str | None
    choices: tuple[Any, ...] = ()
    description: str = "an expression"


@dataclass(frozen=True)
class Branches:
    """A conditional (`c ? a : b`): each side is checked on its own."""

    values: tuple[Any, ...]


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("function", "operator")


def is_loop(value: Any) -> bool:
    return isinstance(value, dict) and {"loop_type", "config"} <= set(value)


class Scope:
    """One template's parameters and variables, to follow names found in its bodies."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.parameters: dict[str, Any] = template.get("parameters", {})
        self.variables: dict[str, Any] = template.get("variables", {})
        self.deployed = set(template.get("resources", {})) | set(template.get("modules", {}))

    def resolve(self, value: Any, _seen: frozenset[str] = frozenset()) -> Any:
        """A literal, list or object stays as it is; anything else becomes Known or Branches."""
        if isinstance(value, BicepElement):
            return self._name(str(value), _seen)
        if isinstance(value, str):
            # An interpolated string ('${a}-x') is a string, of unknown value.
            return Known(STRING, description="an interpolated string") if "${" in value else value
        if is_expression(value):
            return self._expression(value)
        return value

    def _name(self, name: str, seen: frozenset[str]) -> Any:
        if name in self.variables and name not in seen:
            value = self.variables[name]["value"]
            return Known(ARRAY) if is_loop(value) else self.resolve(value, seen | {name})
        if name in self.parameters:
            declared = self.parameters[name]
            allowed: list[Any] = next((d["argument"] for d in declared["decorators"] if d["type"] == "allowed"), [])
            kind = declared["type"] if declared["type"] in (STRING, INT, BOOL, OBJECT, ARRAY) else None
            return Known(kind, tuple(allowed), f"parameter {name}")
        return Known(None, description=name)  # a resource, module or loop item

    def runtime_part(self, value: Any) -> str | None:
        """What in `value` is known only once resources deploy (a resource's properties, a module's
        outputs, reference(), list*()); None when it can be computed when the deployment starts."""
        if isinstance(value, list):
            return next(filter(None, map(self.runtime_part, value)), None)
        if not isinstance(value, dict):
            return None
        function = value["function"] if is_expression(value) and "function" in value else {}
        if function.get("type") in ("reference", "list_func"):
            return f"{function['type']}()"
        operator = value["operator"] if is_expression(value) and "operator" in value else {}
        if operator.get("type") == "property_accessor":
            root, member = _root_and_member(operator["operands"])
            if isinstance(root, BicepElement) and root in self.deployed and member not in _KNOWN_AT_START:
                return f"{root}.{member}"
        return next(filter(None, map(self.runtime_part, value.values())), None)

    def _expression(self, value: dict[str, Any]) -> Any:
        if "operator" in value:
            operator = value["operator"]
            if operator["type"] == "conditional":
                operands = operator["operands"]
                return Branches((operands["true_value"], operands["false_value"]))
            return Known(_OPERATOR_KINDS.get(operator["type"]))
        return Known(_FUNCTION_KINDS.get(value["function"]["type"]))


def kind_of(value: Any) -> str | None:
    """The kind of a literal or a Known; None when unknown."""
    if isinstance(value, Known):
        return value.kind
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, str):
        return STRING
    return ARRAY if isinstance(value, list) or is_loop(value) else OBJECT


def _root_and_member(operands: dict[str, Any]) -> tuple[Any, Any]:
    """`storage.properties.x` and `pool[0].properties` as (storage, properties) and (pool, properties)."""
    root, member = operands["operand_1"], operands["operand_2"]
    if is_expression(root) and root.get("operator", {}).get("type") == "index_accessor":
        root = root["operator"]["operands"]["operand_1"]
    if is_expression(member) and member.get("operator", {}).get("type") == "property_accessor":
        member = member["operator"]["operands"]["operand_1"]
    return root, member
