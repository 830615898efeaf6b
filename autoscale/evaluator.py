"""Parse a formula once; evaluate it against a pool state and metric histories at an injected time.

    formula = Formula.parse(text)                              # FormulaError: syntax, limits
    run = formula.evaluate(pool, metrics, now=now, seed=7)     # never raises for run-time failures
    run.results, run.error, run.applied

Statements run in order. Reading `$TargetDedicatedNodes` before assigning it gives the pool's current
target. A `GetSample` short of its percentage fails the whole run with InsufficientSampleData; any other
run-time failure fails it with `errors.EVALUATION_ERROR`; either way `applied` is None and the pool keeps
its targets. `stop()` ends the run and what was assigned so far applies. The ternary evaluates only the
branch it selects. `now` is the only clock: `time()` returns it and sample windows end at it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from autoscale import assumptions, errors, names
from autoscale.errors import Fault, FormulaError
from autoscale.functions import call
from autoscale.lint import Finding, review
from autoscale.methods import call_method
from autoscale.operators import binary, truth, unary
from autoscale.parser import parse
from autoscale.results import AppliedTargets, Evaluation, apply, results_string
from autoscale.samples import Metrics, as_utc
from autoscale.tree import (
    Assignment,
    Binary,
    Call,
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
from autoscale.values import Value, Word, type_name


@dataclass(frozen=True)
class PoolState:
    """What the formula reads from the pool itself: its targets and current node counts."""

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
    variables: dict[str, Value] = field(default_factory=dict)  # key (a target's full name) → value
    assigned: dict[str, tuple[str, Value]] = field(default_factory=dict)  # key → (spelling, value)
    by_full_name: set[str] = field(default_factory=set)  # targets assigned by their full name

    def read(self, node: Name) -> Value:  # noqa: PLR0911 - one return per kind of name
        name = node.name
        key = names.TARGETS.get(name, name)
        if key in self.variables:
            return self.variables[key]
        if key == names.TARGET_DEDICATED:
            return float(self.pool.target_dedicated)
        if key == names.TARGET_LOW_PRIORITY:
            return float(self.pool.target_low_priority)
        if name == names.NODE_DEALLOCATION_OPTION:
            return Word(names.DEFAULT_DEALLOCATION_OPTION)
        if name in names.POOL_VALUES:
            return float(getattr(self.pool, names.POOL_VALUES[name]))
        if name in names.METRICS:
            latest = self.metrics.read(name).latest(self.now, self.metrics.lag, 1)
            return latest[0] if latest else assumptions.METRIC_VALUE_WITHOUT_SAMPLES
        if name in names.TIME_INTERVALS:
            return names.TIME_INTERVALS[name]
        if name in names.DEALLOCATION_OPTIONS:
            return Word(name)
        raise errors.evaluation(f"Undefined variable '{name}'", node.position)

    def assign(self, statement: Assignment, value: Value) -> None:
        name = statement.name
        key = names.TARGETS.get(name, name)
        if key in names.TARGETS and not isinstance(value, float):
            raise errors.evaluation(f"'{name}' must be a double, not a {type_name(value)}", statement.position)
        if key == names.NODE_DEALLOCATION_OPTION and not (
            isinstance(value, Word) and value.text in names.DEALLOCATION_OPTIONS
        ):
            options = ", ".join(names.DEALLOCATION_OPTIONS)
            raise errors.evaluation(f"'{name}' must be one of {options}, not a {type_name(value)}", statement.position)
        if key in names.TARGETS:
            if name != key and key in self.by_full_name:
                return  # the full name wins over its alias, whichever comes last
            if name == key:
                self.by_full_name.add(key)
        self.variables[key] = value
        self.assigned[key] = (key if key in names.SERVICE_VARIABLES else name, value)


class Formula:
    """A parsed formula. Immutable; evaluate it as often as needed."""

    def __init__(self, text: str, statements: Sequence[Statement]) -> None:
        self.text = text
        self.statements = tuple(statements)

    @classmethod
    def parse(cls, text: str) -> Formula:
        """Raises FormulaError (AutoScalingFormulaSyntaxError, AutoScalingFormulaTooLong) with a position."""
        return cls(text, parse(text))

    @cached_property
    def warnings(self) -> list[Finding]:
        """Legal but probably unintended: see `lint.review`."""
        return review(self.statements)

    def evaluate(self, pool: PoolState, metrics: Metrics | None = None, *, now: datetime, seed: int = 0) -> Evaluation:
        """Run against `pool` and `metrics` at `now` (naive means UTC); `seed` fixes rand()."""
        run = _Run(pool, metrics if metrics is not None else Metrics(), as_utc(now), random.Random(seed))
        try:
            for statement in self.statements:
                value = _eval(run, statement.expression)
                if isinstance(statement, Assignment):
                    run.assign(statement, value)
        except _Stop:
            pass
        except FormulaError as exc:
            return Evaluation(results=results_string(pool, {}), error=exc, applied=None)
        return Evaluation(results=results_string(pool, run.assigned), error=None, applied=apply(pool, run.assigned))


def _eval(run: _Run, node: Node) -> Value:  # noqa: PLR0911 - one branch per node type
    try:
        if isinstance(node, Number | String):
            return node.value
        if isinstance(node, Name):
            return run.read(node)
        if isinstance(node, Unary):
            return unary(node.op, _eval(run, node.operand))
        if isinstance(node, Binary):
            return _binary(run, node)
        if isinstance(node, Ternary):
            chosen = node.then if truth(_eval(run, node.condition), "A condition") else node.otherwise
            return _eval(run, chosen)
        if isinstance(node, Call):
            if node.function == "stop":
                raise _Stop
            return call(node.function, [_eval(run, a) for a in node.args], run.now, run.rng)
        if isinstance(node, MethodCall):
            return _method(run, node)
        if isinstance(node, Member):
            return _member(_eval(run, node.target), node.member)
    except Fault as exc:
        where = node.arguments_at if isinstance(node, MethodCall) else node.position
        raise errors.evaluation(str(exc), where) from exc
    raise errors.evaluation(f"cannot evaluate a {type(node).__name__}", node.position)


def _binary(run: _Run, node: Binary) -> Value:
    left = _eval(run, node.left)
    logic = assumptions.SHORT_CIRCUIT_LOGIC and node.op in ("&&", "||") and isinstance(left, float)
    if logic and (left != 0) == (node.op == "||"):  # true || …, false && …: the right side cannot change it
        return 1.0 if node.op == "||" else 0.0
    return binary(node.op, left, _eval(run, node.right))


def _member(value: Value, member: str) -> Value:
    if not isinstance(value, datetime):
        raise Fault(f"'{member}' is a member of a timestamp, not of a {type_name(value)}")
    if member == "weekday":
        weekday = value.isoweekday()  # 1 = Monday … 7 = Sunday
        return float(assumptions.SUNDAY_WEEKDAY if weekday == 7 else weekday)
    return float(getattr(value, member))


def _method(run: _Run, node: MethodCall) -> Value:
    args = [_eval(run, a) for a in node.args]
    metric = node.target.name
    return call_method(metric, node.method, args, history=run.metrics.read(metric), now=run.now, lag=run.metrics.lag,
                       arguments_at=node.arguments_at)  # fmt: skip


__all__ = ["AppliedTargets", "Evaluation", "Formula", "PoolState"]
