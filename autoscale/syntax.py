"""The syntax tree and a precedence-climbing parser with C-like precedence.

    ?:  (right-assoc)  <  ||  <  &&  <  == !=  <  < <= > >=  <  + -  <  * /  <  unary - !  <  . member/method
Statements are `name = expression`, separated by `;` (the last one may omit it). Names of built-in
functions and metric methods, and their argument counts, are checked here, so `check` finds them.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoscale.errors import TOO_LONG, FormulaError, Position, syntax
from autoscale.lexer import Token, tokenize

MAX_LENGTH = 8192
MAX_STATEMENTS = 100
FUNCTION_ARITY: dict[str, tuple[int, int | None]] = {
    "avg": (1, None), "len": (1, None), "lg": (1, None), "ln": (1, None), "log": (1, None),
    "max": (1, None), "min": (1, None), "norm": (1, None), "percentile": (2, 2), "rand": (0, 0),
    "range": (1, None), "std": (1, None), "stop": (0, 0), "sum": (1, None), "time": (0, 1),
    "val": (2, 2), "ceil": (1, None), "floor": (1, None), "round": (1, None),
}  # fmt: skip
METHOD_ARITY: dict[str, tuple[int, int]] = {
    "GetSample": (1, 3), "GetSamplePercent": (1, 2), "GetSamplePeriod": (0, 0), "Count": (0, 0),
    "HistoryBeginTime": (0, 0),
}  # fmt: skip
_BINARY_LEVELS = (("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/"))


@dataclass(frozen=True)
class Node:
    position: Position


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


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Ternary(Node):
    condition: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class MethodCall(Node):
    target: Name
    method: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Member(Node):
    target: Node
    member: str


@dataclass(frozen=True)
class Assignment(Node):
    name: str
    expression: Node


def parse(source: str) -> list[Assignment]:
    if len(source) > MAX_LENGTH:
        raise FormulaError(TOO_LONG, f"The formula has {len(source)} characters; the limit is {MAX_LENGTH}")
    return _Parser(tokenize(source)).program()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def _expect(self, text: str) -> Token:
        if self.tok.text != text or self.tok.kind not in ("op",):
            found = self.tok.text or "end of formula"
            raise syntax(f"Expected '{text}' but found '{found}'", self.tok.position)
        return self._take()

    def program(self) -> list[Assignment]:
        statements: list[Assignment] = []
        while self.tok.kind != "end":
            statements.append(self._statement())
            if len(statements) > MAX_STATEMENTS:
                raise syntax(f"The formula has more than {MAX_STATEMENTS} statements", statements[-1].position)
            if self.tok.kind == "end":
                break
            self._expect(";")
        return statements

    def _statement(self) -> Assignment:
        token = self._take()
        if token.kind != "name":
            raise syntax(f"Expected a variable name but found '{token.text or 'end of formula'}'", token.position)
        self._expect("=")
        return Assignment(token.position, token.text, self._expression())

    def _expression(self) -> Node:
        condition = self._binary(0)
        if self.tok.text == "?" and self.tok.kind == "op":
            position = self._take().position
            then = self._expression()
            self._expect(":")
            return Ternary(position, condition, then, self._expression())
        return condition

    def _binary(self, level: int) -> Node:
        if level == len(_BINARY_LEVELS):
            return self._unary()
        left = self._binary(level + 1)
        while self.tok.kind == "op" and self.tok.text in _BINARY_LEVELS[level]:
            op = self._take()
            left = Binary(op.position, op.text, left, self._binary(level + 1))
        return left

    def _unary(self) -> Node:
        if self.tok.kind == "op" and self.tok.text in ("-", "!"):
            op = self._take()
            return Unary(op.position, op.text, self._unary())
        return self._postfix(self._primary())

    def _postfix(self, node: Node) -> Node:
        while self.tok.kind == "op" and self.tok.text == ".":
            self._take()
            name = self._take()
            if name.kind != "name" or name.text.startswith("$"):
                raise syntax(f"Expected a member or method name after '.', found '{name.text}'", name.position)
            if self.tok.text == "(":
                if not isinstance(node, Name) or name.text not in METHOD_ARITY:
                    raise syntax(f"Unknown method '{name.text}'", name.position)
                args = self._args(name, METHOD_ARITY[name.text])
                node = MethodCall(name.position, node, name.text, args)
            else:
                node = Member(name.position, node, name.text)
        return node

    def _args(self, name: Token, arity: tuple[int, int | None]) -> tuple[Node, ...]:
        self._expect("(")
        args: list[Node] = []
        if self.tok.text != ")":
            args.append(self._expression())
            while self.tok.text == ",":
                self._take()
                args.append(self._expression())
        self._expect(")")
        low, high = arity
        if len(args) < low or (high is not None and len(args) > high):
            raise syntax(f"'{name.text}' does not take {len(args)} argument(s)", name.position)
        return tuple(args)

    def _primary(self) -> Node:
        token = self._take()
        if token.kind == "number":
            return Number(token.position, float(token.text))
        if token.kind == "string":
            return String(token.position, token.text[1:-1])
        if token.kind == "name":
            if self.tok.text == "(" and self.tok.kind == "op":
                if token.text not in FUNCTION_ARITY:
                    raise syntax(f"Unknown function '{token.text}'", token.position)
                return Call(token.position, token.text, self._args(token, FUNCTION_ARITY[token.text]))
            return Name(token.position, token.text)
        if token.text == "(":
            inner = self._expression()
            self._expect(")")
            return inner
        raise syntax(f"Unexpected '{token.text or 'end of formula'}'", token.position)
