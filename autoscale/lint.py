"""Findings in a formula that Azure accepts but that are probably mistakes (`sitelens autoscale check`).

- a statement that is only an expression: its value is kept nowhere (`x == 3;` meant `x = 3;`);
- a name spelled like a service-defined one in another case (`$targetDedicatedNodes`): names are
  case-sensitive, so it is a user variable and the pool never sees it;
- a name read before any statement assigns it: the evaluation fails if that read is reached.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from autoscale import names
from autoscale.errors import Position
from autoscale.tree import Assignment, ExpressionStatement, MethodCall, Name, Node, Statement

_PREDEFINED_BY_LOWER_CASE = {name.lower(): name for name in names.PREDEFINED}


@dataclass(frozen=True)
class Finding:
    position: Position
    text: str

    def __str__(self) -> str:
        return f"{self.position}: {self.text}"


def review(statements: Sequence[Statement]) -> list[Finding]:
    findings: list[Finding] = []
    assigned: set[str] = set()
    for statement in statements:
        if isinstance(statement, ExpressionStatement):
            findings.append(Finding(statement.position, "This statement's value is kept nowhere; use 'name = …'"))
        for name in _names_read(statement.expression):
            findings += _check_name(name.name, name.position, assigned, read=True)
        if isinstance(statement, Assignment):
            findings += _check_name(statement.name, statement.position, assigned, read=False)
            assigned.add(statement.name)
    return sorted(findings, key=lambda f: (f.position.line, f.position.col))


def _check_name(name: str, position: Position, assigned: set[str], *, read: bool) -> list[Finding]:
    if name in names.PREDEFINED:
        return []
    meant = _PREDEFINED_BY_LOWER_CASE.get(name.lower())
    if meant is not None:
        return [Finding(position, f"'{name}' is a user variable; the service-defined name is spelled '{meant}'")]
    if read and name not in assigned:
        return [Finding(position, f"'{name}' is read before any statement assigns it")]
    return []


def _names_read(node: Node) -> Iterator[Name]:
    if isinstance(node, Name):
        yield node
    for child in node.children():
        if isinstance(node, MethodCall) and child is node.target:
            continue  # the metric a method is called on, already checked by the parser
        yield from _names_read(child)
