"""Resource bodies checked against Microsoft's Bicep type definitions: what `bicep build` would flag.

For each resource declaration: its type and API version exist; each property name exists in the type
with exactly that spelling (Bicep property names are case-sensitive), through nested objects, arrays and
discriminated unions; required properties are present, read-only ones are not set, and deploy-time
constants (name, location ...) use nothing that is known only once resources deploy; literal values
match the type (an enum's strings, string / int / bool, length and range limits). Names are followed to
variables and to parameters' declared types and @allowed values (bicep_values); other expressions are
checked by kind when their kind is fixed, or skipped. `parent:` must name a resource of the parent type.
An `existing` resource is checked for its type and version only, since its body just names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycep.transformer import BicepElement

from tests.unit.infra import bicep
from tests.unit.infra.bicep_resources import ResourceDeclaration, declarations_in_text
from tests.unit.infra.bicep_type_definitions import (
    DEPLOY_TIME_CONSTANT,
    READ_ONLY,
    REFRESH_SCRIPT,
    REQUIRED,
    TypeDefinitions,
    vendored,
)
from tests.unit.infra.bicep_values import Branches, Known, Scope, is_loop, kind_of

# Finding kinds.
UNKNOWN_TYPE_VERSION = "unknown type or API version"
UNKNOWN_PROPERTY = "unknown property"
CASING = "casing"
MISSING_REQUIRED = "missing required property"
READ_ONLY_SET = "read-only property set"
NOT_DEPLOY_TIME_CONSTANT = "not a deploy-time constant"
ENUM = "value not allowed"
WRONG_KIND = "wrong type"
OUT_OF_RANGE = "out of range"
WRONG_PARENT = "wrong parent type"

# Keys of a resource body that belong to Bicep itself, not to the resource type.
BICEP_KEYWORDS = frozenset({"parent", "scope", "dependsOn"})

_KINDS = {
    **dict.fromkeys(["StringType", "StringLiteralType"], "string"),
    **dict.fromkeys(["ObjectType", "DiscriminatedObjectType"], "object"),
    **{"IntegerType": "int", "BooleanType": "bool", "NullType": "null", "ArrayType": "array"},
}


@dataclass(frozen=True)
class Finding:
    resource: str  # file:symbol (type@version)
    symbol: str  # the resource's symbolic name, `account::blobs` when nested
    path: str  # properties.siteConfig.ftpsState; empty for the resource itself
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.resource} {self.path or '(resource)'}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class _Shape:
    """An object type's properties, once a discriminated union's branch is chosen (or not)."""

    properties: dict[str, Any]
    additional: dict[str, Any] | None
    required: frozenset[str]
    unchecked: frozenset[str] = frozenset()  # a discriminator that chose no branch (reported already if wrong)


def check_text(text: str, *, source: str, definitions: TypeDefinitions | None = None) -> list[Finding]:
    scope = Scope(bicep.parse_text(text))
    declarations = declarations_in_text(text, source=source)
    by_symbol = {declaration.symbol: declaration for declaration in declarations}
    findings: list[Finding] = []
    for declaration in declarations:
        findings.extend(_parent_findings(declaration, by_symbol))
        findings.extend(check_declaration(declaration, scope, definitions or vendored()))
    return findings


def _parent_findings(declaration: ResourceDeclaration, by_symbol: dict[str, ResourceDeclaration]) -> list[Finding]:
    """`parent: x` must name a resource whose type is this one's less its last segment."""
    parent = by_symbol.get(str(declaration.body.get("parent")))
    needed = declaration.type.rsplit("/", 1)[0]
    if not isinstance(declaration.body.get("parent"), BicepElement) or parent is None:
        return []  # no parent, or one this check cannot follow (an indexed loop resource)
    if parent.type.lower() == needed.lower():
        return []
    message = f"{parent.symbol} is a {parent.type}; {declaration.type} needs a {needed}"
    return [Finding(declaration.where, declaration.symbol, "parent", WRONG_PARENT, message)]


def check_declaration(declaration: ResourceDeclaration, scope: Scope, definitions: TypeDefinitions) -> list[Finding]:
    definition = definitions.resource(declaration.type_version)
    if definition is None:
        message = (
            f"{declaration.type_version} is not in the vendored Bicep types: run {REFRESH_SCRIPT} against"
            " a bicep-types-az checkout (it stops if no such type and API version exist)"
        )
        return [Finding(declaration.where, declaration.symbol, "", UNKNOWN_TYPE_VERSION, message)]
    if declaration.existing:
        return []
    walk = _Walk(declaration, scope)
    walk.object(declaration.body, definition.body, "", top=True)
    return walk.findings


class _Walk:
    def __init__(self, declaration: ResourceDeclaration, scope: Scope) -> None:
        self.declaration = declaration
        self.scope = scope
        self.findings: list[Finding] = []

    def report(self, path: str, kind: str, message: str) -> None:
        self.findings.append(Finding(self.declaration.where, self.declaration.symbol, path, kind, message))

    def value(self, raw: Any, type_: dict[str, Any], path: str, origin: str = "") -> None:
        value = self.scope.resolve(raw)
        if isinstance(value, Branches):
            for branch in value.values:
                self.value(branch, type_, path, origin)
        elif isinstance(value, Known):
            for choice in value.choices:  # a parameter's @allowed values, each as a literal
                self.value(choice, type_, path, f" (allowed for {value.description})")
            if value.kind is not None and not _accepts(type_, value.kind):
                self.report(path, WRONG_KIND, f"{value.description} is {value.kind}, expected {_expected(type_)}")
        elif value is not None:  # null leaves an optional property out
            self._typed(value, type_, path, origin)

    def _typed(self, value: Any, type_: dict[str, Any], path: str, origin: str) -> None:
        kind = kind_of(value)
        if type_["$type"] == "UnionType":
            self._union(value, type_, path, origin)
        elif kind is not None and not _accepts(type_, kind):
            self.report(path, WRONG_KIND, f"{_show(value)}{origin} is {kind}, expected {_expected(type_)}")
        elif type_["$type"] in ("ObjectType", "DiscriminatedObjectType"):
            self.object(value, type_, path)
        elif type_["$type"] == "ArrayType":
            self._array(value, type_, path)
        elif type_["$type"] == "StringLiteralType" and value != type_["value"]:
            expected = type_["value"]
            self.report(path, ENUM, f"{_show(value)}{origin} is not {_show(expected)}{_casing(value, [expected])}")
        elif type_["$type"] in ("StringType", "IntegerType"):
            self._limits(value, type_, path, origin)

    def _union(self, value: Any, union: dict[str, Any], path: str, origin: str) -> None:
        listed = [element["value"] for element in union["elements"] if element["$type"] == "StringLiteralType"]
        if isinstance(value, str) and listed and value not in listed:
            # An open enum (its values, or any string) still lists what the service knows: a literal
            # outside the list is most likely a typo the deployment would fail on.
            shown = ", ".join(map(_show, listed))
            self.report(path, ENUM, f"{_show(value)}{origin} is not one of {shown}{_casing(value, listed)}")
            return
        attempts: list[tuple[dict[str, Any], list[Finding]]] = []
        for element in union["elements"]:
            trial = _Walk(self.declaration, self.scope)
            trial.value(value, element, path, origin)
            if not trial.findings:
                return
            attempts.append((element, trial.findings))
        fitting = [(element, found) for element, found in attempts if _accepts(element, kind_of(value) or "")]
        if fitting:
            fewest: list[Finding] = min([found for _, found in fitting], key=len)
            self.findings.extend(fewest)
        else:
            self.report(path, WRONG_KIND, f"{_show(value)}{origin} is {kind_of(value)}, expected {_expected(union)}")

    def _array(self, value: Any, type_: dict[str, Any], path: str) -> None:
        if is_loop(value):
            self.value(value["config"], type_["itemType"], f"{path}[*]")
            return
        if not type_.get("minLength", 0) <= len(value) <= type_.get("maxLength", len(value)):
            self.report(path, OUT_OF_RANGE, f"{len(value)} items, outside {_range(type_, 'Length')}")
        for number, item in enumerate(value):
            self.value(item, type_["itemType"], f"{path}[{number}]")

    def _limits(self, value: Any, type_: dict[str, Any], path: str, origin: str) -> None:
        measure, limit = (len(value), "Length") if isinstance(value, str) else (value, "Value")
        if not type_.get(f"min{limit}", measure) <= measure <= type_.get(f"max{limit}", measure):
            self.report(path, OUT_OF_RANGE, f"{_show(value)}{origin} is outside {_range(type_, limit)}")

    def object(self, value: dict[str, Any], type_: dict[str, Any], path: str, *, top: bool = False) -> None:
        body = {_key(key): item for key, item in value.items()}
        shape = self._shape(body, type_, path)
        for key, item in body.items():
            at = f"{path}.{key}" if path else key
            prop = shape.properties.get(key)
            if key in shape.unchecked:
                continue
            if "${" in key:  # a computed key: only a map's keys can be, and they are not names to check
                if shape.additional is not None:
                    self.value(item, shape.additional, at)
            elif prop is not None:
                self._property(item, prop, at)
            elif (spelled := _other_casing(key, shape.properties)) is not None:
                self.report(at, CASING, f"{key!r} is spelled {spelled!r} in the type (names are case-sensitive)")
            elif shape.additional is not None:
                self.value(item, shape.additional, at)
            elif not (top and key in BICEP_KEYWORDS):
                self.report(at, UNKNOWN_PROPERTY, f"{key!r} is not a property of {type_.get('name', 'this object')}")
        for name in sorted(shape.required):
            if name not in body and _other_casing(name, body) is None:
                self.report(f"{path}.{name}" if path else name, MISSING_REQUIRED, f"{name!r} is required")

    def _property(self, value: Any, prop: dict[str, Any], path: str) -> None:
        if prop["flags"] & READ_ONLY:
            self.report(path, READ_ONLY_SET, "read-only: Azure sets it, a template cannot")
            return
        if prop["flags"] & DEPLOY_TIME_CONSTANT and (runtime := self.scope.runtime_part(value)) is not None:
            self.report(path, NOT_DEPLOY_TIME_CONSTANT, f"uses {runtime}, known only once resources deploy")
        self.value(value, prop["type"], path)

    def _shape(self, body: dict[str, Any], type_: dict[str, Any], path: str) -> _Shape:
        if type_["$type"] == "ObjectType":
            return _Shape(type_["properties"], type_.get("additionalProperties"), _required(type_["properties"]))
        base, elements, discriminator = type_["baseProperties"], type_["elements"], type_["discriminator"]
        chosen = self.scope.resolve(body.get(discriminator))
        if isinstance(chosen, str) and chosen in elements:
            properties = {**base, **elements[chosen]["properties"]}
            return _Shape(properties, elements[chosen].get("additionalProperties"), _required(properties))
        at = f"{path}.{discriminator}" if path else discriminator
        if discriminator not in body and _other_casing(discriminator, body) is None:
            self.report(at, MISSING_REQUIRED, f"{discriminator!r} is required: it selects one of {sorted(elements)}")
        elif isinstance(chosen, str):
            listed = ", ".join(map(_show, sorted(elements)))
            self.report(at, ENUM, f"{_show(chosen)} is not one of {listed}{_casing(chosen, list(elements))}")
        # No branch chosen: a property of any branch is accepted, and only the common ones are required.
        merged = {name: p for element in elements.values() for name, p in element["properties"].items()}
        return _Shape({**merged, **base}, None, _required(base), frozenset({discriminator}))


def _required(properties: dict[str, Any]) -> frozenset[str]:
    return frozenset(n for n, p in properties.items() if p["flags"] & REQUIRED and not p["flags"] & READ_ONLY)


def _accepts(type_: dict[str, Any], kind: str) -> bool:
    if type_["$type"] == "UnionType":
        return any(_accepts(element, kind) for element in type_["elements"])
    return type_["$type"] == "AnyType" or _KINDS.get(type_["$type"]) == kind


def _expected(type_: dict[str, Any]) -> str:
    if type_["$type"] == "UnionType":
        return " or ".join(sorted({_expected(element) for element in type_["elements"]}))
    return _KINDS.get(type_["$type"], "any")


def _other_casing(name: str, names: Any) -> str | None:
    return next((other for other in names if other.lower() == name.lower() and other != name), None)


def _casing(value: Any, allowed: list[str]) -> str:
    spelled = _other_casing(value, allowed) if isinstance(value, str) else None
    return f" (differs only in casing from {_show(spelled)})" if spelled is not None else ""


def _range(type_: dict[str, Any], limit: str) -> str:
    return f"[{type_.get(f'min{limit}', '')}..{type_.get(f'max{limit}', '')}] ({limit.lower()})"


def _key(key: str) -> str:
    """pycep keeps a quoted key's quotes ('odata.type', '${id}'); Bicep's name is inside them."""
    return key[1:-1] if len(key) > 1 and key[0] == key[-1] == "'" else key


def _show(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else repr(value).lower() if isinstance(value, bool) else repr(value)
