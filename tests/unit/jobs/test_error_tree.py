"""One error tree: every SitelensError subclass in shared/ is drawn in shared/errors.py and in
docs/reason-codes.md, under its parent, with its own reason code, and maps to the HTTP status drawn."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import shared
from shared import errors, problems
from shared.errors import SitelensError

REPO = Path(__file__).resolve().parents[3]
NODE = re.compile(r'(\w+)\["(\w+)<br/>([^"]*)"\]')  # X["Class<br/>reasons · status"]
EDGE = re.compile(r"(\w+)(?:\[[^\]]*\])? --> (\w+)")


def tree() -> list[type[SitelensError]]:
    for module in pkgutil.walk_packages(shared.__path__, "shared."):
        importlib.import_module(module.name)
    found, todo = [], [SitelensError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += [c for c in cls.__subclasses__() if c.__module__.startswith("shared.")]
    return found


def drawn() -> tuple[dict[str, str], dict[str, str]]:
    """From the Mermaid drawing in docs/reason-codes.md: class → its label, class → its parent class."""
    text = (REPO / "docs" / "reason-codes.md").read_text()
    chart = text.split("## The error tree", 1)[1].split("```mermaid", 1)[1].split("```", 1)[0]
    ids = {node: cls for node, cls, _ in NODE.findall(chart)}
    labels = {cls: label for _, cls, label in NODE.findall(chart)}
    parents = {ids[child]: ids[parent] for parent, child in EDGE.findall(chart)}
    return labels, parents


@pytest.mark.parametrize("cls", tree(), ids=lambda c: c.__name__)
def test_every_error_class_is_drawn_in_both_places_with_its_reason(cls: type[SitelensError]):
    docstring = errors.__doc__ or ""
    line = next((ln for ln in docstring.splitlines() if re.search(rf"\b{cls.__name__}\b", ln)), None)
    assert line is not None, f"draw {cls.__name__} in shared/errors.py"
    labels, parents = drawn()
    assert cls.__name__ in labels, f"draw {cls.__name__} in docs/reason-codes.md"
    if "reason" in vars(cls):  # a class with a reason of its own shows it in both drawings
        assert cls.reason in line and cls.reason in labels[cls.__name__]
    if cls is not SitelensError:
        assert parents[cls.__name__] == cls.__mro__[1].__name__


def test_the_statuses_drawn_are_the_ones_problem_documents_get():
    labels, _ = drawn()
    for cls in (errors.SitelensError, errors.TransientError, errors.PermanentError, errors.NotFound,
                errors.Conflict, errors.InvalidInput):  # fmt: skip
        status = problems.status_for(cls("x"))
        assert labels[cls.__name__].endswith(f"· {status}")
        assert f"HTTP {status}" in (errors.__doc__ or "")
