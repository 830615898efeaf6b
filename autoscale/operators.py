"""The operator table with its type rules (anything not listed is a type error)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from autoscale.functions import FunctionError
from autoscale.values import Value, Vec, type_name

_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
}  # fmt: skip
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, ">=": operator.ge, ">": operator.gt, "!=": operator.ne,
}  # fmt: skip


def _div(a: float, b: float) -> float:
    if b == 0:
        raise FunctionError("Division by zero")
    return a / b


def _arith(op: str, a: float, b: float) -> float:
    return _div(a, b) if op == "/" else _ARITH[op](a, b)


def binary(op: str, a: Value, b: Value) -> Value:  # noqa: C901, PLR0911, PLR0912 - one branch per row of the table
    if op in _COMPARE:
        comparable = (float, str, datetime, timedelta)
        if type(a) is type(b) and isinstance(a, comparable):
            return 1.0 if _COMPARE[op](a, b) else 0.0
    elif op in ("&&", "||") and isinstance(a, float) and isinstance(b, float):
        return 1.0 if (bool(a) and bool(b) if op == "&&" else bool(a) or bool(b)) else 0.0
    elif isinstance(a, float) and isinstance(b, float):
        return _arith(op, a, b)
    elif isinstance(a, Vec) and isinstance(b, float):
        return Vec(tuple(_arith(op, x, b) for x in a.items))
    elif isinstance(a, Vec) and isinstance(b, Vec):
        if len(a.items) != len(b.items):
            raise FunctionError(f"doubleVecs of lengths {len(a.items)} and {len(b.items)} cannot be combined")
        return Vec(tuple(_arith(op, x, y) for x, y in zip(a.items, b.items, strict=True)))
    elif isinstance(a, float) and isinstance(b, timedelta) and op == "*":
        return b * a
    elif isinstance(a, timedelta) and isinstance(b, float) and op in ("*", "/"):
        return a * b if op == "*" else (a / b if b else _zero())
    elif isinstance(a, timedelta) and isinstance(b, timedelta) and op in ("+", "-"):
        return a + b if op == "+" else a - b
    elif isinstance(a, timedelta) and isinstance(b, datetime) and op == "+":
        return b + a
    elif isinstance(a, datetime) and isinstance(b, timedelta) and op == "+":
        return a + b
    elif isinstance(a, datetime) and isinstance(b, datetime) and op == "-":
        return a - b
    raise FunctionError(f"Operator '{op}' is not defined for {type_name(a)} and {type_name(b)}")


def _zero() -> timedelta:
    raise FunctionError("Division by zero")


def unary(op: str, a: Value) -> Value:
    if op == "-" and isinstance(a, float | timedelta):
        return -a
    if op == "!" and isinstance(a, float):
        return 0.0 if a else 1.0
    raise FunctionError(f"Operator '{op}' is not defined for {type_name(a)}")
