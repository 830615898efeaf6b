"""The built-in functions. doubleVecList arguments (doubles and vectors mixed) are flattened first."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from autoscale.values import Value, Vec, type_name


class FunctionError(ValueError):
    """A function got arguments it cannot use; the evaluator adds the position."""


def flatten(args: Sequence[Value], name: str) -> list[float]:
    out: list[float] = []
    for a in args:
        if isinstance(a, float):
            out.append(a)
        elif isinstance(a, Vec):
            out.extend(a.items)
        else:
            raise FunctionError(f"'{name}' takes doubles and doubleVecs, not a {type_name(a)}")
    return out


def _nonempty(values: list[float], name: str) -> list[float]:
    if not values:
        raise FunctionError(f"'{name}' of an empty doubleVec")
    return values


def _elementwise(fn: Callable[[float], float], name: str) -> Callable[[Sequence[Value]], Value]:
    def apply(args: Sequence[Value]) -> Value:
        if len(args) == 1 and isinstance(args[0], float):
            return _checked(fn, args[0], name)
        return Vec(tuple(_checked(fn, x, name) for x in flatten(args, name)))

    return apply


def _checked(fn: Callable[[float], float], x: float, name: str) -> float:
    try:
        return float(fn(x))
    except (ValueError, OverflowError) as exc:
        raise FunctionError(f"'{name}' is undefined for {x:g}") from exc


def _round_half_away(x: float) -> float:
    return float(math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5))


def _std(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0  # the sample deviation of one value; see docs/autoscale.md
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _percentile(args: Sequence[Value]) -> Value:
    vec, p = args
    if not isinstance(vec, Vec) or not isinstance(p, float):
        raise FunctionError("'percentile' takes a doubleVec and a double")
    values = sorted(_nonempty(list(vec.items), "percentile"))
    if not 0 <= p <= 100:
        raise FunctionError("'percentile' takes a percentage between 0 and 100")
    rank = (len(values) - 1) * p / 100  # linear interpolation between closest ranks
    low, high = math.floor(rank), math.ceil(rank)
    return values[low] + (values[high] - values[low]) * (rank - low)


def _val(args: Sequence[Value]) -> Value:
    vec, index = args
    if not isinstance(vec, Vec) or not isinstance(index, float):
        raise FunctionError("'val' takes a doubleVec and a double index")
    i = int(index)
    if not 0 <= i < len(vec.items):
        raise FunctionError(f"'val' index {i} is outside a doubleVec of length {len(vec.items)}")
    return vec.items[i]


def parse_time(text: str) -> datetime:
    """W3C-DTF (ISO 8601) or RFC 1123, as `time("...")` accepts."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError) as exc:
            raise FunctionError(f"'time' cannot read \"{text}\"") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def call(name: str, args: Sequence[Value], now: datetime, rng: random.Random) -> Value:  # noqa: PLR0911 - a dispatch
    simple: dict[str, Callable[[list[float]], float]] = {
        "avg": lambda v: sum(_nonempty(v, "avg")) / len(v),
        "len": lambda v: float(len(v)),
        "max": lambda v: max(_nonempty(v, "max")),
        "min": lambda v: min(_nonempty(v, "min")),
        "norm": lambda v: math.sqrt(sum(x * x for x in v)),
        "range": lambda v: max(_nonempty(v, "range")) - min(v),
        "std": _std,
        "sum": lambda v: float(sum(v)),
    }
    if name in simple:
        return simple[name](flatten(args, name))
    elementwise = {"lg": math.log2, "ln": math.log, "log": math.log10, "ceil": math.ceil, "floor": math.floor,
                   "round": _round_half_away}  # fmt: skip
    if name in elementwise:
        return _elementwise(elementwise[name], name)(args)
    if name == "percentile":
        return _percentile(args)
    if name == "val":
        return _val(args)
    if name == "rand":
        return rng.random()
    if name == "time":
        if not args:
            return now
        if not isinstance(args[0], str):
            raise FunctionError("'time' takes a string")
        return parse_time(args[0])
    raise FunctionError(f"Unknown function '{name}'")
