"""The outcome of an evaluation: Azure's results string, and the targets actually applied."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoscale.errors import FormulaError
from autoscale.values import Value, Word, format_value

if TYPE_CHECKING:
    from autoscale.evaluator import PoolState

SERVICE_ORDER = ("$TargetDedicatedNodes", "$TargetLowPriorityNodes", "$NodeDeallocationOption")


@dataclass(frozen=True)
class AppliedTargets:
    dedicated: int
    low_priority: int
    node_deallocation_option: str


@dataclass(frozen=True)
class Evaluation:
    results: str
    error: FormulaError | None
    applied: AppliedTargets | None  # None when the run failed: the pool keeps its targets


def results_string(pool: PoolState, assigned: dict[str, tuple[str, Value]]) -> str:
    """Service variables first, then user variables by name in ASCII order; no trailing `;`."""
    service: dict[str, Value] = {
        "$TargetDedicatedNodes": float(pool.target_dedicated),
        "$TargetLowPriorityNodes": float(pool.target_low_priority),
        "$NodeDeallocationOption": Word("requeue"),
    }
    users: list[tuple[str, Value]] = []
    for key, (spelling, value) in assigned.items():
        if key in service:
            service[key] = value
        else:
            users.append((spelling, value))
    parts = [f"{name}={format_value(service[name])}" for name in SERVICE_ORDER]
    parts += [f"{name}={format_value(value)}" for name, value in sorted(users)]
    return ";".join(parts)


def _target(value: Value | None, current: int) -> int:
    if not isinstance(value, float) or math.isnan(value):
        return current
    if math.isinf(value):
        return 0 if value < 0 else current
    return max(0, math.trunc(value))  # truncated toward zero, never negative


def apply(pool: PoolState, assigned: dict[str, tuple[str, Value]]) -> AppliedTargets:
    option = assigned.get("$NodeDeallocationOption", ("", Word("requeue")))[1]
    return AppliedTargets(
        dedicated=_target(assigned.get("$TargetDedicatedNodes", ("", None))[1], pool.target_dedicated),
        low_priority=_target(assigned.get("$TargetLowPriorityNodes", ("", None))[1], pool.target_low_priority),
        node_deallocation_option=option.text if isinstance(option, Word) else "requeue",
    )
