"""A precedence-climbing parser with C-like precedence, and the formula's length and statement limits.

    ?: (right-assoc)  <  ||  <  &&  <  == !=  <  < <= > >=  <  + -  <  * /  <  unary - !  <  . member/method

Statements are `name = expression` (or, per `assumptions.EXPRESSION_STATEMENTS`, a bare expression),
separated by `;`; the last may omit it. Everything knowable without running the formula is checked
here, so `sitelens autoscale check` finds it: function and method names and argument counts, methods
called on something other than a metric, unknown timestamp members, assignments to read-only names.
"""

from __future__ import annotations

import math

from autoscale import assumptions, names
from autoscale.errors import TOO_LONG, FormulaError, syntax
from autoscale.lexer import Token, tokenize
from autoscale.tree import (
    Assignment,
    Binary,
    Call,
    ExpressionStatement,
    Member,
    MethodCall,
    Name,
    Node,
    Number,
    Statement,
    String,
    Ternary,
    Unary,
)

MAX_LENGTH = 8192
MAX_STATEMENTS = 100
FUNCTION_ARITY: dict[str, tuple[int, int | None]] = {
    "avg": (1, None), "len": (1, None), "lg": (1, None), "ln": (1, None), "log": (1, None),
    "max": (1, None), "min": (1, None), "norm": (1, None), "percentile": (2, 2), "rand": (0, 0),
    "range": (1, None), "std": (1, None), "stop": (0, 0), "sum": (1, None), "time": (0, 1),
    "val": (2, 2), "ceil": (1, None), "floor": (1, None), "round": (1, None),
}  # fmt: skip
METHOD_ARITY: dict[str, tuple[int, int | None]] = {
    "GetSample": (1, 3), "GetSamplePercent": (1, 2), "GetSamplePeriod": (0, 0), "Count": (0, 0),
    "HistoryBeginTime": (0, 0),
}  # fmt: skip
_BINARY_LEVELS = (("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/"))


def parse(source: str) -> list[Statement]:
    """The statements of a formula; FormulaError (syntax, too long) with Azure's code and a position."""
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

    def _peek(self) -> Token:
        return self.tokens[min(self.i + 1, len(self.tokens) - 1)]

    def _take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def _expect(self, text: str) -> Token:
        if not self.tok.is_op(text):
            raise syntax(f"Expected '{text}' but found {self.tok.describe()}", self.tok.position)
        return self._take()

    def program(self) -> list[Statement]:
        statements: list[Statement] = []
        while self.tok.kind != "end":
            statement = self._statement()
            statements.append(statement)
            if len(statements) > MAX_STATEMENTS:
                raise syntax(f"The formula has more than {MAX_STATEMENTS} statements", statement.position)
            if self.tok.kind != "end":
                self._expect(";")
        if not statements:
            raise syntax("The formula has no statements", self.tok.position)
        return statements

    def _statement(self) -> Statement:
        token = self.tok
        if token.kind == "name" and self._peek().is_op("="):
            self.i += 2
            if token.text in names.READ_ONLY:
                raise syntax(f"'{token.text}' is read-only and cannot be assigned", token.position)
            return Assignment(token.position, token.text, self._expression())
        if not assumptions.EXPRESSION_STATEMENTS or token.is_op(";"):
            raise syntax(f"Expected a variable name but found {token.describe()}", token.position)
        return ExpressionStatement(token.position, self._expression())

    def _expression(self) -> Node:
        condition = self._binary(0)
        if self.tok.is_op("?"):
            position = self._take().position
            then = self._expression()
            self._expect(":")
            return Ternary(position, condition, then, self._expression())
        return condition

    def _binary(self, level: int) -> Node:
        if level == len(_BINARY_LEVELS):
            return self._unary()
        left = self._binary(level + 1)
        while self.tok.is_op(*_BINARY_LEVELS[level]):
            op = self._take()
            left = Binary(op.position, op.text, left, self._binary(level + 1))
        return left

    def _unary(self) -> Node:
        if self.tok.is_op("-", "!"):
            op = self._take()
            return Unary(op.position, op.text, self._unary())
        return self._postfix(self._primary())

    def _postfix(self, node: Node) -> Node:
        while self.tok.is_op("."):
            self._take()
            name = self._take()
            if name.kind != "name" or name.text.startswith("$"):
                raise syntax(f"Expected a member or method name after '.' but found {name.describe()}", name.position)
            if self.tok.is_op("("):
                node = self._method(node, name)
            elif name.text in names.TIMESTAMP_MEMBERS:
                node = Member(name.position, node, name.text)
            else:
                raise syntax(f"Unknown member '{name.text}'; a timestamp has {', '.join(names.TIMESTAMP_MEMBERS)}",
                             name.position)  # fmt: skip
        return node

    def _method(self, target: Node, name: Token) -> MethodCall:
        if not isinstance(target, Name) or target.name not in names.METRICS:
            raise syntax(f"Only metrics such as $PendingTasks have methods; '{name.text}' is called on another value",
                         name.position)  # fmt: skip
        if name.text not in METHOD_ARITY:
            raise syntax(f"Unknown method '{name.text}'", name.position)
        arguments_at = self.tok.position
        return MethodCall(name.position, target, name.text, self._args(name, METHOD_ARITY[name.text]), arguments_at)

    def _args(self, name: Token, arity: tuple[int, int | None]) -> tuple[Node, ...]:
        self._expect("(")
        args: list[Node] = []
        if not self.tok.is_op(")"):
            args.append(self._expression())
            while self.tok.is_op(","):
                self._take()
                args.append(self._expression())
        self._expect(")")
        low, high = arity
        if len(args) < low or (high is not None and len(args) > high):
            expected = f"{low}" if low == high else f"{low} to {high}" if high is not None else f"at least {low}"
            raise syntax(f"'{name.text}' takes {expected} argument(s), not {len(args)}", name.position)
        return tuple(args)

    def _primary(self) -> Node:
        token = self._take()
        if token.kind == "number":
            value = float(token.text)
            if math.isinf(value):
                raise syntax(f"The number {token.text} is out of range", token.position)
            return Number(token.position, value)
        if token.kind == "string":
            return String(token.position, token.text[1:-1])
        if token.kind == "name":
            if self.tok.is_op("("):
                if token.text not in FUNCTION_ARITY:
                    raise syntax(f"Unknown function '{token.text}'", token.position)
                return Call(token.position, token.text, self._args(token, FUNCTION_ARITY[token.text]))
            return Name(token.position, token.text)
        if token.is_op("("):
            inner = self._expression()
            self._expect(")")
            return inner
        raise syntax(f"Unexpected {token.describe()}", token.position)
