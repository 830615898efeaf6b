"""Evaluating a parsed formula against a pool state and metric histories at an injected time.

Statements run in order. Reading `$TargetDedicatedNodes` before assigning it gives the pool's current
target; a metric read as a value gives its latest visible sample (node counts and slots come from the
pool state). `GetSample(..., percent)` short of its percentage fails the whole run with
InsufficientSampleData and leaves the targets unchanged. `stop()` ends the run; what was assigned so
far is applied. The ternary evaluates only the branch it selects; `&&` and `||` short-circuit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from autoscale import errors
from autoscale.errors import FormulaError, Position
from autoscale.functions import FunctionError, call
from autoscale.operators import binary, unary
from autoscale.results import AppliedTargets, Evaluation, apply, results_string
from autoscale.samples import METRICS, SAMPLE_PERIOD, Metrics
from autoscale.syntax import (
    Assignment,
    Binary,
    Call,
    Member,
    MethodCall,
    Name,
    Node,
    Number,
    String,
    Ternary,
    Unary,
    parse,
)
from autoscale.values import DEALLOCATION_OPTIONS, TIME_INTERVALS, Value, Vec, Word, type_name

TARGETS = {
    "$TargetDedicatedNodes": "$TargetDedicatedNodes",
    "$TargetDedicated": "$TargetDedicatedNodes",
    "$TargetLowPriorityNodes": "$TargetLowPriorityNodes",
    "$TargetLowPriority": "$TargetLowPriorityNodes",
}
DEALLOCATION = "$NodeDeallocationOption"
POOL_METRICS = {"$CurrentDedicatedNodes": "current_dedicated", "$CurrentLowPriorityNodes": "current_low_priority",
                "$TaskSlotsPerNode": "task_slots_per_node",
                # the older names, still in Azure's own evaluate example
                "$CurrentDedicated": "current_dedicated", "$CurrentLowPriority": "current_low_priority"}  # fmt: skip
MEMBERS = ("year", "month", "day", "weekday", "hour", "minute", "second")


@dataclass(frozen=True)
class PoolState:
    target_dedicated: int = 0
    target_low_priority: int = 0
    current_dedicated: int = 0
    current_low_priority: int = 0
    task_slots_per_node: int = 1


class _Stop(Exception):
    pass


@dataclass
class _Run:
    pool: PoolState
    metrics: Metrics
    now: datetime
    rng: random.Random
    variables: dict[str, Value] = field(default_factory=dict)
    assigned: dict[str, tuple[str, Value]] = field(default_factory=dict)  # key → (spelling, value)

    def read(self, node: Name) -> Value:  # noqa: PLR0911 - one return per kind of name
        name = node.name
        if name in TARGETS:
            key = TARGETS[name]
            if key in self.variables:
                return self.variables[key]
            return float(self.pool.target_dedicated if "Dedicated" in key else self.pool.target_low_priority)
        if name in self.variables:
            return self.variables[name]
        if name == DEALLOCATION:
            return Word("requeue")
        if name in POOL_METRICS:
            return float(getattr(self.pool, POOL_METRICS[name]))
        if name in METRICS:
            visible = self.metrics.of(name).visible(self.now, self.metrics.lag)
            return visible[-1][1] if visible else 0.0
        if name in TIME_INTERVALS:
            return TIME_INTERVALS[name]
        if name in DEALLOCATION_OPTIONS:
            return Word(name)
        raise errors.evaluation(f"Undefined variable '{name}'", node.position)


class Formula:
    def __init__(self, text: str, statements: list[Assignment]) -> None:
        self.text = text
        self.statements = statements

    @classmethod
    def parse(cls, text: str) -> Formula:
        statements = parse(text)
        for s in statements:
            if s.name in METRICS or s.name in TIME_INTERVALS:
                raise errors.syntax(f"'{s.name}' is read-only", s.position)
        return cls(text, statements)

    def evaluate(self, pool: PoolState, metrics: Metrics, *, now: datetime, seed: int = 0) -> Evaluation:
        run = _Run(pool, metrics, now, random.Random(seed))
        try:
            for statement in self.statements:
                self._assign(run, statement)
        except _Stop:
            pass
        except FormulaError as exc:
            return Evaluation(results=results_string(pool, {}), error=exc, applied=None)
        return Evaluation(results=results_string(pool, run.assigned), error=None, applied=apply(pool, run.assigned))

    def _assign(self, run: _Run, statement: Assignment) -> None:
        value = _eval(run, statement.expression)
        name = statement.name
        key = TARGETS.get(name, name)
        if key in TARGETS.values() and not isinstance(value, float):
            raise errors.evaluation(f"'{name}' must be a double, not a {type_name(value)}", statement.position)
        if name == DEALLOCATION and not (isinstance(value, Word) and value.text in DEALLOCATION_OPTIONS):
            raise errors.evaluation(f"'{name}' must be one of {', '.join(DEALLOCATION_OPTIONS)}", statement.position)
        previous = run.assigned.get(key)
        # The full target name wins over its alias when a formula assigns both.
        if previous is not None and key != name and previous[0] == key:
            return
        run.variables[key] = value
        run.assigned[key] = (key if key in TARGETS.values() else name, value)


def _eval(run: _Run, node: Node) -> Value:  # noqa: C901, PLR0911 - one branch per node type
    try:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, String):
            return node.value
        if isinstance(node, Name):
            return run.read(node)
        if isinstance(node, Unary):
            return unary(node.op, _eval(run, node.operand))
        if isinstance(node, Binary):
            return _binary(run, node)
        if isinstance(node, Ternary):
            condition = _eval(run, node.condition)
            if not isinstance(condition, float):
                raise FunctionError(f"a condition must be a double, not a {type_name(condition)}")
            return _eval(run, node.then if condition else node.otherwise)
        if isinstance(node, Call):
            if node.function == "stop":
                raise _Stop
            return call(node.function, [_eval(run, a) for a in node.args], run.now, run.rng)
        if isinstance(node, MethodCall):
            return _method(run, node)
        if isinstance(node, Member):
            return _member(_eval(run, node.target), node)
    except FunctionError as exc:
        raise errors.evaluation(str(exc), node.position) from exc
    raise errors.evaluation(f"cannot evaluate {type(node).__name__}", node.position)


def _binary(run: _Run, node: Binary) -> Value:
    left = _eval(run, node.left)
    if node.op in ("&&", "||") and isinstance(left, float) and (bool(left) == (node.op == "||")):
        return 1.0 if node.op == "||" else 0.0  # short-circuit
    return binary(node.op, left, _eval(run, node.right))


def _member(value: Value, node: Member) -> Value:
    if not isinstance(value, datetime) or node.member not in MEMBERS:
        raise FunctionError(f"'{node.member}' is not a member of a {type_name(value)}")
    if node.member == "weekday":
        return float(value.isoweekday())  # 1 = Monday … 7 = Sunday
    return float(getattr(value, node.member))


def _when(run: _Run, value: Value, what: str) -> datetime:
    if isinstance(value, timedelta):
        return run.now - value  # a look-back interval: "this long ago"
    if isinstance(value, datetime):
        return value
    raise FunctionError(f"{what} must be a timeinterval or a timestamp, not a {type_name(value)}")


def _method(run: _Run, node: MethodCall) -> Value:
    name = node.target.name
    if name not in METRICS:
        raise FunctionError(f"'{name}' has no method '{node.method}'")
    history = run.metrics.of(name)
    args = [_eval(run, a) for a in node.args]
    if node.method == "GetSamplePeriod":
        return SAMPLE_PERIOD
    if node.method == "Count":
        return float(len(history.samples))
    if node.method == "HistoryBeginTime":
        if not history.samples:
            raise FunctionError(f"{name} has no samples")
        return history.samples[0][0]
    if node.method == "GetSample" and len(args) == 1 and isinstance(args[0], float):
        visible = history.visible(run.now, run.metrics.lag)
        count = int(args[0])
        return Vec(tuple(v for _, v in visible[-count:])) if count > 0 else Vec(())
    start = _when(run, args[0], "the window start")
    end = _when(run, args[1], "the window end") if len(args) > 1 and not isinstance(args[1], float) else run.now
    start, end = min(start, end), max(start, end)
    values, percent = history.window(run.now, run.metrics.lag, start, end)
    if node.method == "GetSamplePercent":
        return percent
    wanted = args[-1] if isinstance(args[-1], float) and len(args) > 1 else None
    if wanted is not None and percent < wanted:
        raise FormulaError(
            errors.INSUFFICIENT_SAMPLES,
            f"Insufficient data from data set: {name} wanted {wanted:g}%, received {int(percent)}%",
            Position(node.target.position.line, node.target.position.col),
        )
    return Vec(tuple(values))


__all__ = ["AppliedTargets", "Evaluation", "Formula", "PoolState"]
