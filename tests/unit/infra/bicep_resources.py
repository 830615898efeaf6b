"""Every resource declaration in a Bicep file, nested children included, with its type, API version and body.

pycep's JSON keeps only the last nested `resource` of a body (it files them all under one dictionary
key), so declarations are read from pycep's syntax tree instead: each top-level `resource` and each
`resource` nested in a body. Their bodies are then turned into the usual pycep structure by pycep's own
transformer, so values look exactly as they do in `bicep.parse`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from lark import Token, Tree
from pycep.transformer import BicepToJson

from tests.unit.infra import bicep


@dataclass(frozen=True)
class ResourceDeclaration:
    source: str  # the file, relative to the repository
    symbol: str  # `storage`, or `account::blobs` for a resource nested in another's body
    type: str
    api_version: str
    existing: bool
    body: dict[str, Any]  # the resource's own object, under its loop or condition if it has one

    @property
    def type_version(self) -> str:
        return f"{self.type}@{self.api_version}"

    @property
    def where(self) -> str:
        return f"{self.source}:{self.symbol} ({self.type_version})"


def declarations_in(path: Path) -> list[ResourceDeclaration]:
    return declarations_in_text(path.read_text(), source=str(path.relative_to(bicep.REPO)))


def declarations_in_text(text: str, *, source: str) -> list[ResourceDeclaration]:
    tree = bicep.syntax_tree(text)
    found: list[ResourceDeclaration] = []
    for element in tree.children:
        if isinstance(element, Tree) and element.data == "resource":
            _decorators, name, type_api_pair, existing, value = cast("list[Any]", element.children)
            type_, api_version = _quoted(type_api_pair.children[0]).split("@", 1)
            found.extend(
                _declared(
                    source, str(name), type_=type_, api_version=api_version, existing=existing is not None, value=value
                )
            )
    return found


def infra_declarations() -> list[ResourceDeclaration]:
    return [declaration for path in bicep.bicep_files() for declaration in declarations_in(path)]


def _declared(
    source: str, symbol: str, *, type_: str, api_version: str, existing: bool, value: Tree[Token]
) -> Iterator[ResourceDeclaration]:
    config = BicepToJson(add_line_numbers=False).transform(value)
    body = dict(bicep.body(config))
    body.pop("__child_resource__", None)  # pycep's single slot for nested resources, read below instead
    yield ResourceDeclaration(source, symbol, type_, api_version, existing, body)
    for child in _nested_resources(value):
        name, child_type, child_existing, child_value = cast("list[Any]", child.children)
        segment, _, own_version = _quoted(child_type).partition("@")
        yield from _declared(
            source,
            f"{symbol}::{name}",
            type_=f"{type_}/{segment}",
            api_version=own_version or api_version,  # a nested resource has its parent's unless it names one
            existing=child_existing is not None,
            value=child_value,
        )


def _nested_resources(value: Tree[Token]) -> list[Tree[Token]]:
    """The `resource` declarations directly inside this resource's object (not inside its children)."""
    obj = value
    # A loop or a condition wraps the object; it is their last part.
    while obj.data != "object" and obj.children and isinstance(obj.children[-1], Tree):
        obj = obj.children[-1]
    return [c for c in obj.children if isinstance(c, Tree) and c.data == "child_resource"]


def _quoted(token: Any) -> str:
    return str(token)[1:-1]
