"""The pins: every package the Function App or a node installs has one exact version, and where two files pin
the same package they agree, so a node runs what the tests ran."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[3]
APP, NODE, CONSTRAINTS = REPO / "requirements.txt", REPO / "batch_tasks" / "requirements.txt", REPO / "constraints.txt"


def pins(path: Path) -> dict[str, str]:
    """The `name==version` lines of a requirements file, by canonical name."""
    found: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{path.name}: {line!r} is not pinned exactly"
        found[canonicalize_name(requirement.name)] = specs[0].version
    return found


def installed_closure(names: list[str]) -> set[str]:
    """The packages `names` install, as this venv resolved them (markers evaluated, no extras)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_every_line_of_the_app_and_node_requirements_is_pinned_exactly():
    assert pins(APP) and pins(NODE)  # and each line on its way was `==`


def test_the_node_pins_the_versions_the_tests_run_where_both_files_pin_a_package():
    node, tested = pins(NODE), pins(CONSTRAINTS)
    differ = {name: (version, tested[name]) for name, version in node.items() if tested.get(name, version) != version}
    assert differ == {}, "batch_tasks/requirements.txt vs constraints.txt (node, tested)"


def test_every_package_the_app_installs_has_a_pin_in_the_constraints_it_ships_with():
    closure = installed_closure(list(pins(APP)))
    tested = pins(CONSTRAINTS)
    assert len(closure) > len(pins(APP))  # the walk found the transitive packages
    assert sorted(closure - set(tested)) == []
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", tested[name]) for name in closure)


def test_the_app_package_ships_its_requirements_constrained_by_the_tested_pins(tmp_path):
    out = tmp_path / "app"
    subprocess.run([sys.executable, "-B", str(REPO / "infra" / "package.py"), "app-dir", str(out)], check=True,
                   capture_output=True)  # fmt: skip
    shipped = (out / "requirements.txt").read_text().splitlines()
    constraint = [line for line in shipped if line.startswith("-c ")]
    assert constraint == ["-c constraints.txt"]  # pip reads it relative to the requirements file
    assert (out / "constraints.txt").read_bytes() == CONSTRAINTS.read_bytes()
    assert pins(out / "requirements.txt") == pins(APP)
