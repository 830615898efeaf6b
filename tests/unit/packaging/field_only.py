"""Run `sitelens ARGS` as an install with only the `field` extra would: every module that an installed
distribution provides, and that the extra's distributions (with what they require, transitively) do not,
fails to import as if it were not installed. Run as a script, in a fresh interpreter:

    python tests/unit/packaging/field_only.py [sitelens arguments]
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata as md
import re
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[3]
PROJECT = {"sitelens", "shared", "batch_tasks", "emulators", "autoscale"}
EXTENSION = re.compile(r"\.(cpython-[^.]+|abi3)?\.?(so|pyd)$")


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def field_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project.get("optional-dependencies", {}).get("field", [])]


def closure(requirements: Sequence[Requirement]) -> set[str]:
    """The distributions these requirements install, by normalised name (as found in this environment)."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        req = todo.pop()
        if normalised(req.name) in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(normalised(req.name))
        for line in md.distribution(req.name).requires or []:
            dep = Requirement(line)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in req.extras or {""}):
                todo.append(dep)
    return seen


def module_owners() -> dict[str, set[str]]:
    """Every importable module name (`azure.storage.blob`) of every installed distribution, and who ships it:
    a package is shipped by every distribution with a file in its folder (`azure` by each Azure SDK)."""
    owners: dict[str, set[str]] = {}
    for dist in md.distributions():
        name = normalised(dist.metadata["Name"])
        # RECORD's first column, read as text: far quicker than `dist.files` over a whole environment.
        for line in (dist.read_text("RECORD") or "").splitlines():
            parts = line.split(",", 1)[0].split("/")
            if ".." in parts or parts[0].endswith((".dist-info", ".data")) or "__pycache__" in parts:
                continue
            last = EXTENSION.sub("", parts[-1]) if EXTENSION.search(parts[-1]) else re.sub(r"\.pyi?$", "", parts[-1])
            if last == parts[-1]:  # neither Python (nor its stub) nor an extension module
                continue
            names = parts[:-1] if last == "__init__" else [*parts[:-1], last]
            for depth in range(1, len(names) + 1):
                owners.setdefault(".".join(names[:depth]), set()).add(name)
    return owners


class OnlyTheExtra(importlib.abc.MetaPathFinder):
    def __init__(self, allowed: set[str], owners: dict[str, set[str]]) -> None:
        self.allowed, self.owners = allowed, owners

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        shipped_by = self.owners.get(name, set())
        if name.partition(".")[0] not in PROJECT and shipped_by and not shipped_by & self.allowed:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None  # the usual finders decide


def main(argv: list[str]) -> int:
    sys.meta_path.insert(0, OnlyTheExtra(closure(field_requirements()), module_owners()))
    from sitelens.cli import main as sitelens  # only once the finder is in place

    return sitelens(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
