"""The syntax tree of a formula: statements of expressions, each node with its source position."""

from __future__ import annotations

from dataclasses import dataclass

from autoscale.errors import Position


@dataclass(frozen=True)
class Node:
    position: Position

    def children(self) -> tuple[Node, ...]:
        """The direct sub-expressions, left to right (for checks that walk the tree)."""
        return ()


@dataclass(frozen=True)
class Number(Node):
    value: float


@dataclass(frozen=True)
class String(Node):
    value: str


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Binary(Node):
    """Positioned at its operator."""

    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Ternary(Node):
    """Positioned at its `?`."""

    condition: Node
    then: Node
    otherwise: Node

    def children(self) -> tuple[Node, ...]:
        return (self.condition, self.then, self.otherwise)


@dataclass(frozen=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True)
class MethodCall(Node):
    """`$Metric.Method(args)`, positioned at the method name; Azure reports sampling errors at the `(`."""

    target: Name
    method: str
    args: tuple[Node, ...]
    arguments_at: Position

    def children(self) -> tuple[Node, ...]:
        return (self.target, *self.args)


@dataclass(frozen=True)
class Member(Node):
    """`timestamp.hour`, positioned at the member name."""

    target: Node
    member: str

    def children(self) -> tuple[Node, ...]:
        return (self.target,)


@dataclass(frozen=True)
class Assignment(Node):
    name: str
    expression: Node

    def children(self) -> tuple[Node, ...]:
        return (self.expression,)


@dataclass(frozen=True)
class ExpressionStatement(Node):
    """A statement that is only an expression: evaluated (it may fail), its value kept nowhere."""

    expression: Node

    def children(self) -> tuple[Node, ...]:
        return (self.expression,)


Statement = Assignment | ExpressionStatement
