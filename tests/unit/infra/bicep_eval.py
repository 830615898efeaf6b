"""A small evaluator of the Bicep expressions that build settings (objects, `union`, `contains`, `json`, `string`,
`c ? a : b`, property access), with ARM's semantics for them, so a test can give parameters values and read
what a deployment would set. What is known only once resources deploy (a module's outputs, a resource's
properties, an interpolated string) evaluates to a placeholder, `<its text>`, which no expression here inspects.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from pycep.transformer import BicepElement

from tests.unit.infra import bicep
from tests.unit.infra.bicep_values import is_expression


class Evaluator:
    """One template's names: parameters bound to given values (else their defaults), variables on demand."""

    def __init__(self, template: dict[str, Any], arguments: dict[str, Any]) -> None:
        self.template = template
        defaults = {name: spec["default"] for name, spec in template.get("parameters", {}).items()}
        self.names: dict[str, Any] = {**defaults, **arguments}

    def evaluate(self, node: Any) -> Any:
        if isinstance(node, BicepElement):
            return self._name(str(node))
        if isinstance(node, str):
            return f"<{node}>" if "${" in node else node
        if isinstance(node, list):
            return [self.evaluate(item) for item in node]
        if is_expression(node):
            return self._function(node["function"]) if "function" in node else self._operator(node)
        if isinstance(node, dict):
            return {key: self.evaluate(value) for key, value in node.items()}
        return node  # int, bool, None

    def loop_source(self, loop: dict[str, Any]) -> Any:
        """What a `[for item in items(X): ...]` loop runs over: X, evaluated (pycep keeps it as text)."""
        source = loop["loop_type"]["detail"]["object_name"]
        if source.startswith("{"):  # an expression, as the text of its tree
            return self.evaluate(self._names_in(ast.literal_eval(source)))
        return self.evaluate(BicepElement(source))

    def _names_in(self, node: Any) -> Any:
        """That text has lost which strings were names: one that names a parameter or variable is taken as one."""
        if isinstance(node, dict):
            return {key: self._names_in(value) for key, value in node.items()}
        if isinstance(node, list):
            return [self._names_in(value) for value in node]
        known = node in self.names or node in self.template.get("variables", {})
        return BicepElement(node) if isinstance(node, str) and known else node

    def _name(self, name: str) -> Any:
        if name not in self.names and name in self.template.get("variables", {}):
            self.names[name] = self.evaluate(self.template["variables"][name]["value"])
        return self.names.get(name, f"<{name}>")  # a module, a resource, a loop item

    def _function(self, call: dict[str, Any]) -> Any:
        arguments = [self.evaluate(v) for v in (call.get("parameters") or {}).values() if v is not None]
        kind = call["type"]
        if kind == "union":  # objects: later keys win
            merged: dict[str, Any] = {}
            for argument in arguments:
                merged.update(argument)
            return merged
        if kind == "contains":
            container, item = arguments
            return item in container
        if kind == "json":
            return json.loads(arguments[0])
        if kind == "string":
            return arm_string(arguments[0])
        return f"<{bicep.render({'function': call})}>"

    def _operator(self, node: dict[str, Any]) -> Any:
        operator = node["operator"]
        operands = operator["operands"]
        if operator["type"] == "conditional":
            chosen = operands["true_value"] if self.evaluate(operands["condition"]) else operands["false_value"]
            return self.evaluate(chosen)
        if operator["type"] == "property_accessor":
            base, member = operands["operand_1"], operands["operand_2"]
            if is_expression(member):  # a.b.c arrives as a(b.c): known only once a is a real object
                return f"<{bicep.render(node)}>"
            value = self.evaluate(base)
            return value[str(member)] if isinstance(value, dict) and str(member) in value else f"<{bicep.render(node)}>"
        return f"<{bicep.render(node)}>"


def arm_string(value: Any) -> str:
    """ARM's string(): a string as it is, a bool as `True`/`False` (as .NET writes it; the docs say to quote
    booleans), anything else as compact JSON."""
    if isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def name_value_list(loop: dict[str, Any], evaluator: Evaluator) -> list[tuple[str, str]]:
    """A `[for item in items(X): {name: item.key, value: string(item.value)}]` loop as ARM expands it: X's
    entries sorted by key (items() sorts), each value through string()."""
    item = loop["loop_type"]["detail"]["item_name"]
    assert bicep.render(loop["config"]) == f"{{name: {item}.key, value: string({item}.value)}}"
    source = evaluator.loop_source(loop)
    return [(key, arm_string(source[key])) for key in sorted(source)]
