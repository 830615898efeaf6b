"""The vendored subset of Microsoft's Bicep type definitions (infra/checks/bicep_types/), loaded as a graph.

Each file is bicep-types-az's types.json format: a list of types whose references (`{"$ref": "#/7"}`)
point into the same list. Loading replaces every reference with the type it names, so a checker walks
plain dictionaries; recursive types become cycles, which a walk driven by a template's value never loops on.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.unit.infra import bicep

TYPES_DIR = bicep.INFRA / "checks" / "bicep_types"
REFRESH_SCRIPT = "infra/checks/refresh_bicep_types.py"

# ObjectTypePropertyFlags in bicep-types.
REQUIRED = 1
READ_ONLY = 2
WRITE_ONLY = 4  # may be set, never read back (e.g. secrets): nothing to check in a resource body
DEPLOY_TIME_CONSTANT = 8  # must be known when the deployment starts (name, location ...)
IDENTIFIER = 16


@dataclass(frozen=True)
class ResourceDefinition:
    name: str  # bicep-types' spelling, `Microsoft.Web/sites@2024-04-01`
    body: dict[str, Any]  # an ObjectType or DiscriminatedObjectType, references resolved


class TypeDefinitions:
    def __init__(self, directory: Path = TYPES_DIR) -> None:
        self.directory = directory
        self.index: dict[str, Any] = json.loads((directory / "index.json").read_text())
        self._by_lower_name = {name.lower(): name for name in self.index["resources"]}
        self._files: dict[str, list[dict[str, Any]]] = {}

    @property
    def source_commit(self) -> str:
        return str(self.index["source"]["commit"])

    @property
    def resource_names(self) -> set[str]:
        return set(self.index["resources"])

    def resource(self, type_version: str) -> ResourceDefinition | None:
        """Resource types match case-insensitively, as in Bicep; None when the subset lacks it."""
        name = self._by_lower_name.get(type_version.lower())
        if name is None:
            return None
        file, _, number = self.index["resources"][name]["$ref"].partition("#/")
        resource_type = self._types(file)[int(number)]
        return ResourceDefinition(name, resource_type["body"])

    def _types(self, file: str) -> list[dict[str, Any]]:
        if file not in self._files:
            types: list[dict[str, Any]] = json.loads((self.directory / file).read_text())
            for entry in types:
                _resolve(entry, types)
            self._files[file] = types
        return self._files[file]


def _resolve(node: Any, types: list[dict[str, Any]]) -> None:
    """Replaces, in place, each `{"$ref": "#/N"}` value inside `node` with types[N]."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(children):
        if isinstance(value, dict) and set(value) == {"$ref"}:
            node[key] = types[int(value["$ref"].removeprefix("#/"))]
        elif isinstance(value, (dict, list)) and "$type" not in value:
            _resolve(value, types)  # a type's own parts (properties, elements), not another type


@functools.cache
def vendored() -> TypeDefinitions:
    return TypeDefinitions()
