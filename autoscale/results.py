"""The outcome of an evaluation: Azure's results string, and the targets actually applied.

Printing and applying are separate. The results string lists `$TargetDedicatedNodes`,
`$TargetLowPriorityNodes`, `$NodeDeallocationOption` (always, with the pool's targets and `requeue` where
the formula left them), then the user variables in ASCII order of their spelling, `name=value` joined by
`;` with no trailing `;`. Applying truncates each target toward zero and never goes below zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoscale import assumptions, names
from autoscale.errors import FormulaError
from autoscale.values import Value, Word, format_value

if TYPE_CHECKING:
    from autoscale.evaluator import PoolState


@dataclass(frozen=True)
class AppliedTargets:
    dedicated: int
    low_priority: int
    node_deallocation_option: str


@dataclass(frozen=True)
class Evaluation:
    """One run of a formula. On error the pool keeps its targets: `applied` is None."""

    results: str
    error: FormulaError | None
    applied: AppliedTargets | None

    @property
    def node_deallocation_option(self) -> str | None:
        return self.applied.node_deallocation_option if self.applied else None


def results_string(pool: PoolState, assigned: dict[str, tuple[str, Value]]) -> str:
    """`assigned` maps each variable's key (a target's full name) to (spelling, value)."""
    service: dict[str, Value] = {
        names.TARGET_DEDICATED: float(pool.target_dedicated),
        names.TARGET_LOW_PRIORITY: float(pool.target_low_priority),
        names.NODE_DEALLOCATION_OPTION: Word(names.DEFAULT_DEALLOCATION_OPTION),
    }
    users: list[tuple[str, Value]] = []
    for key, (spelling, value) in assigned.items():
        if key in service:
            service[key] = value if assumptions.PRINT_ASSIGNED_TARGETS else _printable_target(key, value, pool)
        else:
            users.append((spelling, value))
    parts = [f"{name}={format_value(service[name])}" for name in names.SERVICE_VARIABLES]
    parts += [f"{spelling}={format_value(value)}" for spelling, value in sorted(users, key=lambda u: u[0])]
    return ";".join(parts)


def _printable_target(key: str, value: Value, pool: PoolState) -> Value:
    if key == names.TARGET_DEDICATED:
        return float(_target(value, pool.target_dedicated))
    if key == names.TARGET_LOW_PRIORITY:
        return float(_target(value, pool.target_low_priority))
    return value


def _target(value: Value | None, current: int) -> int:
    """Truncated toward zero, never negative; NaN keeps the current target, +inf too (no finite meaning)."""
    if not isinstance(value, float) or math.isnan(value):
        return current
    if math.isinf(value):
        return 0 if value < 0 else current
    return max(0, math.trunc(value))


def apply(pool: PoolState, assigned: dict[str, tuple[str, Value]]) -> AppliedTargets:
    def value(key: str) -> Value | None:
        return assigned[key][1] if key in assigned else None

    option = value(names.NODE_DEALLOCATION_OPTION)
    return AppliedTargets(
        dedicated=_target(value(names.TARGET_DEDICATED), pool.target_dedicated),
        low_priority=_target(value(names.TARGET_LOW_PRIORITY), pool.target_low_priority),
        node_deallocation_option=option.text if isinstance(option, Word) else names.DEFAULT_DEALLOCATION_OPTION,
    )
