"""The Bicep templates in infra/, parsed with pycep (the parser checkov uses), and small readers over them.

pycep keeps expressions as trees (`{"function": ...}`, `{"operator": ...}`); `render` turns one back into
compact Bicep-like text (`guid(storage.id, functionPrincipalId, roles.storageBlobDataOwner)`) so tests
can compare expressions as strings.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from lark import Token, Tree
from pycep import BicepParser

REPO = Path(__file__).resolve().parents[3]
INFRA = REPO / "infra"
MODULES = INFRA / "modules"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@functools.cache
def _parser() -> BicepParser:
    return BicepParser()


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    return dict(_parser().parse(file_path=path))


def parse_text(text: str) -> dict[str, Any]:
    """A template given as text (an edited copy of a real one, in tests), parsed like `parse`."""
    return dict(_parser().parse(text=text))


def syntax_tree(text: str) -> Tree[Token]:
    """pycep's grammar tree before its JSON transform: it still holds every nested resource."""
    return _parser().lark_parser.parse(text)


def module(name: str) -> dict[str, Any]:
    return parse(MODULES / f"{name}.bicep")


def main() -> dict[str, Any]:
    return parse(INFRA / "main.bicep")


def body(conf: Any) -> Any:
    """A resource's or module's own object, under its loop or condition if it has one."""
    while isinstance(conf, dict) and isinstance(conf.get("config"), dict) and {"loop_type", "condition"} & set(conf):
        conf = conf["config"]
    return conf


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    res: dict[str, Any] = template["resources"][name]
    return dict(body(res["config"]))


def resources_of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template.get("resources", {}).items() if res["type"] == type_}


def variable(template: dict[str, Any], name: str) -> Any:
    return template["variables"][name]["value"]


def replaces(template: dict[str, Any], node: Any) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Unwind `replace(replace(base, a, b), c, d)`, through variables: ([(a, b), (c, d)], base's call)."""
    steps: list[tuple[str, str]] = []
    while True:
        if isinstance(node, str):  # a variable's name
            node = variable(template, node)
        call: dict[str, Any] = node["function"]
        if call["type"] != "replace":
            return steps[::-1], call
        args = call["parameters"]
        steps.append((args["old_string"], args["new_string"]))
        node = args["original_string"]


def at(node: Any, path: str) -> Any:
    for part in path.split("/"):
        node = body(node)
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"{path}: no {part!r}")
        node = node[part]
    return node


def render(node: Any) -> str:
    if node is None or isinstance(node, bool):
        return {None: "null", True: "true", False: "false"}[node]
    if isinstance(node, (int, str)):
        return str(node)
    if isinstance(node, list):
        return "[" + ", ".join(render(n) for n in node) + "]"
    if "operator" in node:
        op = node["operator"]
        operands = [render(v) for v in op["operands"].values()]
        return ".".join(operands) if op["type"] == "property_accessor" else f"{op['type']}({', '.join(operands)})"
    if "function" in node:
        fn = node["function"]
        arguments = [render(v) for v in (fn.get("parameters") or {}).values() if v is not None]
        return f"{fn['type']}({', '.join(arguments)})"
    return "{" + ", ".join(f"{k}: {render(v)}" for k, v in node.items()) + "}"
