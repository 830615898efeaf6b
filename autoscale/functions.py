"""The built-in functions. doubleVecList arguments (doubles and vectors mixed) are flattened first.

`avg(v, 7)` with `v = [1,2,3]` is `avg(1,2,3,7)`. `lg`, `ln`, `log`, `ceil`, `floor` and `round` give a
double for a single double and a doubleVec otherwise. `time()` is the evaluation's `now`: the
evaluator passes it in, nothing here reads a clock. `stop()` is the evaluator's, not a function.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from autoscale import assumptions
from autoscale.errors import Fault
from autoscale.values import Value, Vec, type_name


def flatten(args: Sequence[Value], name: str) -> list[float]:
    out: list[float] = []
    for a in args:
        if isinstance(a, float):
            out.append(a)
        elif isinstance(a, Vec):
            out.extend(a.items)
        else:
            raise Fault(f"'{name}' takes doubles and doubleVecs, not a {type_name(a)}")
    return out


def _nonempty(values: list[float], name: str) -> list[float]:
    if not values:
        raise Fault(f"'{name}' of an empty doubleVec")
    return values


def _checked(fn: Callable[[float], float], x: float, name: str) -> float:
    try:
        return float(fn(x))
    except (ValueError, OverflowError) as exc:
        raise Fault(f"'{name}' is undefined for {x:g}") from exc


def _round(x: float) -> float:
    if not assumptions.ROUND_HALF_AWAY_FROM_ZERO:
        return float(round(x))
    return float(math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5))


def _std(values: list[float]) -> float:
    ddof = assumptions.STD_DELTA_DEGREES_OF_FREEDOM
    if len(values) <= ddof:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - ddof))


def _percentile(args: Sequence[Value]) -> float:
    vec, p = args
    if not isinstance(vec, Vec) or not isinstance(p, float):
        raise Fault("'percentile' takes a doubleVec and a double")
    values = sorted(_nonempty(list(vec.items), "percentile"))
    if not 0 <= p <= assumptions.PERCENTILE_SCALE:
        raise Fault(f"'percentile' takes a percentile from 0 to {assumptions.PERCENTILE_SCALE:g}, not {p:g}")
    rank = (len(values) - 1) * p / assumptions.PERCENTILE_SCALE  # linear between the closest ranks
    low, high = math.floor(rank), math.ceil(rank)
    return values[low] + (values[high] - values[low]) * (rank - low)


def _val(args: Sequence[Value]) -> float:
    vec, index = args
    if not isinstance(vec, Vec) or not isinstance(index, float):
        raise Fault("'val' takes a doubleVec and a double index")
    i = math.trunc(index) if math.isfinite(index) else -1
    return vec.items[i] if 0 <= i < len(vec.items) else assumptions.VAL_OUTSIDE_VECTOR


def parse_time(text: str, now: datetime) -> datetime:
    """`time(s)`: now for "", else W3C-DTF (ISO 8601) or RFC 1123; a time without a zone is UTC."""
    if text == "":
        return now
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError) as exc:
            raise Fault(f"'time' cannot read \"{text}\" as W3C-DTF or RFC 1123") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "avg": lambda v: sum(_nonempty(v, "avg")) / len(v),
    "len": lambda v: float(len(v)),
    "max": lambda v: max(_nonempty(v, "max")),
    "min": lambda v: min(_nonempty(v, "min")),
    "norm": lambda v: math.sqrt(sum(x * x for x in v)),
    "range": lambda v: max(_nonempty(v, "range")) - min(v),
    "std": _std,
    "sum": lambda v: float(sum(v)),
}
_ELEMENTWISE: dict[str, Callable[[float], float]] = {
    "lg": math.log2, "ln": math.log, "log": math.log10, "ceil": math.ceil, "floor": math.floor, "round": _round,
}  # fmt: skip


def _time(args: Sequence[Value], now: datetime) -> datetime:
    text = args[0] if args else ""
    if not isinstance(text, str):
        raise Fault(f"'time' takes a string, not a {type_name(text)}")
    return parse_time(text, now)


def call(name: str, args: Sequence[Value], now: datetime, rng: random.Random) -> Value:
    if name in _AGGREGATES:
        return _AGGREGATES[name](flatten(args, name))
    if name in _ELEMENTWISE:
        fn = _ELEMENTWISE[name]
        if len(args) == 1 and isinstance(args[0], float):
            return _checked(fn, args[0], name)
        return Vec(tuple(_checked(fn, x, name) for x in flatten(args, name)))
    others: dict[str, Callable[[], Value]] = {
        "percentile": lambda: _percentile(args),
        "val": lambda: _val(args),
        "rand": rng.random,
        "time": lambda: _time(args, now),
    }
    if name not in others:
        raise Fault(f"Unknown function '{name}'")
    return others[name]()
