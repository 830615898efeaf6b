"""The instruments the Functions app records, read from the source of shared/metrics.py, and the metric names a
log alert's query compares `Name` with: so an alert can be checked against the metrics that really exist.

Each `telemetry.counter(NAME, ...)` / `telemetry.histogram(NAME, ...)` call is an instrument of the function that
holds it. A NAME built with an f-string whose one placeholder is looked up in a dict literal
(`{"SUCCEEDED": "succeeded", ...}[state]`) stands for one instrument per entry, keyed by the entry's key.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[3] / "shared" / "metrics.py"
KINDS = ("counter", "histogram")


@dataclass(frozen=True)
class Instrument:
    name: str
    kind: str  # counter or histogram
    recorder: str  # the shared.metrics function that records it
    key: str | None  # the entry it stands for, when its name is chosen per value; else None
    attributes: frozenset[str] | None  # the keys of the attribute dict it records with, when that is a literal


def instruments(source: str | None = None) -> dict[str, Instrument]:
    """Every instrument shared/metrics.py (or `source`) creates, by name."""
    tree = ast.parse(SOURCE.read_text() if source is None else source)
    found: dict[str, Instrument] = {}
    for function in (node for node in tree.body if isinstance(node, ast.FunctionDef)):
        assigned = {t.id: n.value for n in ast.walk(function) if isinstance(n, ast.Assign)
                    for t in n.targets if isinstance(t, ast.Name)}  # fmt: skip
        for recording in ast.walk(function):
            created = _created(recording)
            if created is None:
                continue
            kind, name_node, attributes = created
            for key, name in _names(name_node, assigned).items():  # a recording comes before its creation
                found.setdefault(name, Instrument(name, kind, function.name, key, attributes))
    return found


def _created(node: ast.AST) -> tuple[str, ast.expr, frozenset[str] | None] | None:
    """`telemetry.KIND(NAME, ...).add|record(value, ATTRIBUTES)` (or the creation alone): its kind, NAME and the
    keys of ATTRIBUTES when it is a dict literal."""
    attributes: frozenset[str] | None = None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("add", "record"):
        given = node.args[1] if len(node.args) > 1 else None
        if isinstance(given, ast.Dict) and all(isinstance(k, ast.Constant) for k in given.keys):
            attributes = frozenset(str(k.value) for k in given.keys if isinstance(k, ast.Constant))
        node = node.func.value
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in KINDS):
        return None
    if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "telemetry"):
        return None
    return node.func.attr, node.args[0], attributes


def _names(node: ast.expr, assigned: dict[str, ast.expr]) -> dict[str | None, str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {None: node.value}
    if isinstance(node, ast.JoinedStr):
        parts = node.values
        holes = [i for i, part in enumerate(parts) if isinstance(part, ast.FormattedValue)]
        if len(holes) == 1:
            hole = parts[holes[0]]
            assert isinstance(hole, ast.FormattedValue)
            lookup = assigned.get(hole.value.id) if isinstance(hole.value, ast.Name) else None
            if isinstance(lookup, ast.Subscript) and isinstance(lookup.value, ast.Dict):
                before, after = _text(parts[: holes[0]]), _text(parts[holes[0] + 1 :])
                return {str(_constant(k)): f"{before}{_constant(v)}{after}"
                        for k, v in zip(lookup.value.keys, lookup.value.values, strict=True)}  # fmt: skip
    raise AssertionError(f"shared/metrics.py: an instrument name this reader cannot follow: {ast.unparse(node)}")


def _constant(node: ast.expr | None) -> object:
    assert isinstance(node, ast.Constant), "a name looked up in a dict of anything but literals"
    return node.value


def _text(parts: list[ast.expr]) -> str:
    return "".join(str(_constant(part)) for part in parts)


_COMPARED = re.compile(r'\bName\s*(?:==\s*("[^"]*")|in\s*\(([^)]*)\))')


def named_metrics(query: str) -> set[str]:
    """The names a Log Analytics query compares the `Name` column with (`Name == "x"`, `Name in ("x", "y")`)."""
    found: set[str] = set()
    for single, listed in _COMPARED.findall(query):
        found |= set(re.findall(r'"([^"]*)"', single + listed))
    return found
