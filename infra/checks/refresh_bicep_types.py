"""Regenerates infra/checks/bicep_types/: the subset of Microsoft's Bicep type definitions that infra/ uses.

    .venv/bin/python infra/checks/refresh_bicep_types.py PATH_TO_BICEP_TYPES_AZ

PATH is a checkout of github.com/Azure/bicep-types-az (a work tree, or a bare/mirror git directory,
read at HEAD). For exactly the (resource type, API version) pairs declared in infra/*.bicep it copies
each resource type and every type it references, without descriptions, into one file per provider
namespace and version (bicep_types/<namespace>/<version>.json), and writes bicep_types/index.json with
the source commit. tests/unit/infra/test_bicep_types.py checks the templates against these files.

Only the standard library is imported at module level: checkov imports every .py file in infra/checks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "bicep_types"
UPSTREAM = "Azure/bicep-types-az"


class TypesCheckout:
    """Files of a bicep-types-az checkout: from its work tree, or from a git directory at HEAD."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.work_tree = (root / "generated").is_dir()

    def _git(self, *args: str) -> str:
        option = ["-C", str(self.root)] if self.work_tree else ["--git-dir", str(self.root)]
        return subprocess.run(["git", *option, *args], check=True, capture_output=True, text=True).stdout

    def commit(self) -> tuple[str, str]:
        sha, date = self._git("log", "-1", "--format=%H %cs", "HEAD").split()
        return sha, date

    def read(self, path: str) -> Any:
        if self.work_tree:
            file = self.root / path
            return json.loads(file.read_text()) if file.is_file() else None
        try:
            return json.loads(self._git("show", f"HEAD:{path}"))
        except subprocess.CalledProcessError:
            return None  # large files (index.json) may be missing from a partial mirror

    def type_files(self) -> list[str]:
        listing = self._git("ls-tree", "-r", "--name-only", "HEAD", "generated")
        return sorted((p for p in listing.split() if p.endswith("/types.json")), key=str.lower)


def locate(checkout: TypesCheckout, type_version: str) -> tuple[str, int]:
    """The types.json path and the index of the resource type, as bicep-types-az's index.json has them."""
    index = checkout.read("generated/index.json")
    if index is not None:
        for key, ref in index["resources"].items():
            if key.lower() == type_version.lower():
                path, _, pointer = ref["$ref"].partition("#/")
                return f"generated/{path}", int(pointer)
        raise LookupError(f"{type_version}: not in {UPSTREAM}'s index.json")
    # No index: search the folders of that namespace and version, in the order the index is built.
    type_, _, version = type_version.partition("@")
    folder = f"/{type_.split('/')[0].lower()}/{version.lower()}/types.json"
    for path in (p for p in checkout.type_files() if p.lower().endswith(folder)):
        for number, entry in enumerate(checkout.read(path)):
            if entry["$type"] == "ResourceType" and entry["name"].lower() == type_version.lower():
                return path, number
    raise LookupError(f"{type_version}: no such resource type and API version in {UPSTREAM}")


def subset(types: list[dict[str, Any]], roots: list[int]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The types reachable from `roots`, renumbered in the order they are reached, without descriptions."""
    order: dict[int, int] = {}
    pending = list(roots)
    while pending:
        number = pending.pop(0)
        if number not in order:
            order[number] = len(order)
            pending.extend(_references(types[number]))
    renumbered = [_renumber(_without_descriptions(types[old]), order) for old in order]
    return renumbered, order


def _references(node: Any) -> list[int]:
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            path, _, pointer = node["$ref"].partition("#/")
            if path:
                raise ValueError(f"reference to another file: {node['$ref']}")
            return [int(pointer)]
        return [n for value in node.values() for n in _references(value)]
    if isinstance(node, list):
        return [n for value in node for n in _references(value)]
    return []


def _renumber(node: Any, order: dict[int, int]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            return {"$ref": f"#/{order[int(node['$ref'][2:])]}"}
        return {key: _renumber(value, order) for key, value in node.items()}
    if isinstance(node, list):
        return [_renumber(value, order) for value in node]
    return node


def _without_descriptions(node: Any) -> Any:
    """Drops a property's description; a property *named* description (a key of `properties`) stays."""
    if isinstance(node, dict):
        is_property = isinstance(node.get("type"), dict) and isinstance(node.get("flags"), int)
        return {k: _without_descriptions(v) for k, v in node.items() if not (is_property and k == "description")}
    if isinstance(node, list):
        return [_without_descriptions(v) for v in node]
    return node


def write_subset(checkout: TypesCheckout, type_versions: list[str], out: Path) -> dict[str, Any]:
    """Replaces `out` with the per-namespace files and their index.json (type@version -> file#/number)."""
    shutil.rmtree(out, ignore_errors=True)
    located: dict[str, list[tuple[str, str, int]]] = {}  # vendored file -> (type@version, source, number)
    for type_version in type_versions:
        path, number = locate(checkout, type_version)
        namespace, version = path.split("/")[-3:-1]
        located.setdefault(f"{namespace}/{version}.json", []).append((type_version, path, number))
    resources: dict[str, dict[str, str]] = {}
    for target, entries in sorted(located.items()):
        merged: list[dict[str, Any]] = []
        for source in sorted({path for _, path, _ in entries}):
            wanted = [(tv, n) for tv, p, n in entries if p == source]
            types, order = subset(checkout.read(source), [n for _, n in wanted])
            offset = len(merged)
            merged.extend(_renumber(t, {new: new + offset for new in order.values()}) for t in types)
            for _, number in wanted:
                name = types[order[number]]["name"]  # upstream's spelling of the type
                resources[name] = {"$ref": f"{target}#/{order[number] + offset}", "source": source}
        file = out / target
        file.parent.mkdir(parents=True, exist_ok=True)
        # One type a line: compact, yet a refresh shows as a readable diff.
        file.write_text("[\n" + ",\n".join(json.dumps(t, separators=(",", ":")) for t in merged) + "\n]\n")
    sha, date = checkout.commit()
    index = {
        "source": {"repository": UPSTREAM, "commit": sha, "date": date},
        "resources": dict(sorted(resources.items())),
    }
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO))
    from tests.unit.infra.bicep_resources import infra_declarations  # noqa: PLC0415 (pycep: project venv only)

    type_versions = sorted({d.type_version for d in infra_declarations()}, key=str.lower)
    index = write_subset(TypesCheckout(Path(argv[0])), type_versions, OUT)
    print(f"{len(type_versions)} resource types from {UPSTREAM}@{index['source']['commit']} into {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
