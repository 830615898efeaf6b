"""The operator table of Azure's documentation with its type rules; any other combination is a type error.

double  + - * /  double        → double          doubleVec  + - * /  double     → doubleVec
doubleVec  + - * /  doubleVec  → doubleVec       double  *  timeinterval        → timeinterval
timeinterval  * /  double      → timeinterval    timeinterval  + -  timeinterval → timeinterval
timeinterval  +  timestamp     → timestamp       timestamp  +  timeinterval     → timestamp
timestamp  -  timestamp        → timeinterval    unary - (double, timeinterval), ! (double)
< <= == >= > !=  on two doubles, strings, timestamps or timeintervals → 1 or 0
&& ||  on two doubles → 1 or 0
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

from autoscale.errors import Fault
from autoscale.values import Interval, Value, Vec, type_name

_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
}  # fmt: skip
_COMPARISON: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, ">=": operator.ge, ">": operator.gt, "!=": operator.ne,
}  # fmt: skip
_COMPARABLE = (float, str, datetime, Interval)


def _arithmetic(op: str, a: float, b: float) -> float:
    if op == "/" and b == 0:
        raise Fault("Division by zero")
    return _ARITHMETIC[op](a, b)


def _scaled(interval: Interval, op: str, factor: float) -> Interval:
    if op == "/" and factor == 0:
        raise Fault("Division by zero")
    try:
        return Interval.scaled(interval.ticks * factor if op == "*" else interval.ticks / factor)
    except OverflowError as exc:
        raise Fault(str(exc)) from exc


def _shifted(at: datetime, interval: Interval) -> datetime:
    try:
        return at + interval.as_timedelta()
    except OverflowError as exc:
        raise Fault("The timestamp is out of range") from exc


def binary(op: str, a: Value, b: Value) -> Value:  # noqa: C901, PLR0911, PLR0912 - one branch per row of the table
    if op in _COMPARISON:
        if type(a) is type(b) and isinstance(a, _COMPARABLE):
            return 1.0 if _COMPARISON[op](a, b) else 0.0
    elif op in ("&&", "||"):
        if isinstance(a, float) and isinstance(b, float):
            return 1.0 if (a and b if op == "&&" else a or b) else 0.0
    elif isinstance(a, float) and isinstance(b, float):
        return _arithmetic(op, a, b)
    elif isinstance(a, Vec) and isinstance(b, float):
        return Vec(tuple(_arithmetic(op, x, b) for x in a.items))
    elif isinstance(a, Vec) and isinstance(b, Vec):
        if len(a.items) != len(b.items):
            raise Fault(f"doubleVecs of lengths {len(a.items)} and {len(b.items)} cannot be combined")
        return Vec(tuple(_arithmetic(op, x, y) for x, y in zip(a.items, b.items, strict=True)))
    elif isinstance(a, float) and isinstance(b, Interval) and op == "*":
        return _scaled(b, op, a)
    elif isinstance(a, Interval) and isinstance(b, float) and op in ("*", "/"):
        return _scaled(a, op, b)
    elif isinstance(a, Interval) and isinstance(b, Interval) and op in ("+", "-"):
        return Interval(a.ticks + b.ticks if op == "+" else a.ticks - b.ticks)
    elif op == "+" and isinstance(a, datetime) and isinstance(b, Interval):
        return _shifted(a, b)
    elif op == "+" and isinstance(a, Interval) and isinstance(b, datetime):
        return _shifted(b, a)
    elif op == "-" and isinstance(a, datetime) and isinstance(b, datetime):
        return Interval.of(a - b)
    raise Fault(f"Operator '{op}' is not defined for {type_name(a)} and {type_name(b)}")


def unary(op: str, a: Value) -> Value:
    if op == "-" and isinstance(a, float):
        return -a
    if op == "-" and isinstance(a, Interval):
        return Interval(-a.ticks)
    if op == "!" and isinstance(a, float):
        return 0.0 if a else 1.0
    raise Fault(f"Operator '{op}' is not defined for a {type_name(a)}")


def truth(condition: Value, what: str) -> bool:
    """Nonzero is true, zero is false; only a double can be a condition."""
    if not isinstance(condition, float):
        raise Fault(f"{what} must be a double, not a {type_name(condition)}")
    return condition != 0
