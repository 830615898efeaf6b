"""The history file of `sitelens autoscale eval`: a pool's state and its metric samples, as JSON.

    {"pool": {"targetDedicatedNodes": 1, "targetLowPriorityNodes": 0, "currentDedicatedNodes": 1,
              "currentLowPriorityNodes": 0, "taskSlotsPerNode": 4},
     "samples": {"$PendingTasks": [[30, 9], [60, 8], [90, 8]]}}

Each sample is `[seconds_before_now, value]`. Pool fields are named as in the Batch REST pool resource,
so a pool's JSON can be pasted in; fields the formula cannot read are ignored, missing ones are 0
(`taskSlotsPerNode`: 1). Metrics not listed have no samples. A malformed file raises HistoryFileError.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from autoscale.evaluator import PoolState
from autoscale.names import METRICS
from autoscale.samples import DEFAULT_LAG, Metrics

POOL_FIELDS = {
    "targetDedicatedNodes": "target_dedicated",
    "targetLowPriorityNodes": "target_low_priority",
    "currentDedicatedNodes": "current_dedicated",
    "currentLowPriorityNodes": "current_low_priority",
    "taskSlotsPerNode": "task_slots_per_node",
}


class HistoryFileError(ValueError):
    pass


def read_history(data: object, now: datetime, lag: timedelta = DEFAULT_LAG) -> tuple[PoolState, Metrics]:
    if not isinstance(data, Mapping):
        raise HistoryFileError('a history file is a JSON object: {"pool": {...}, "samples": {...}}')
    unknown = set(data) - {"pool", "samples"}
    if unknown:
        raise HistoryFileError(f"unknown top-level key(s) {sorted(unknown)}; expected 'pool' and 'samples'")
    return _pool(data.get("pool", {})), _metrics(data.get("samples", {}), now, lag)


def _pool(pool: object) -> PoolState:
    if not isinstance(pool, Mapping):
        raise HistoryFileError("'pool' must be an object")
    counts: dict[str, int] = {}
    for field, attribute in POOL_FIELDS.items():
        if field not in pool:
            continue
        value = pool[field]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise HistoryFileError(f"pool.{field} must be a whole number of at least 0, not {value!r}")
        counts[attribute] = value
    if counts.get("task_slots_per_node", 1) < 1:
        raise HistoryFileError("pool.taskSlotsPerNode must be at least 1")
    return PoolState(**counts)


def _metrics(samples: object, now: datetime, lag: timedelta) -> Metrics:
    if not isinstance(samples, Mapping):
        raise HistoryFileError("'samples' must be an object mapping metric names to [[seconds_before_now, value]]")
    checked: dict[str, list[tuple[float, float]]] = {}
    for name, pairs in samples.items():
        if name not in METRICS:
            raise HistoryFileError(f"{name!r} is not a metric; metrics are {', '.join(METRICS)}")
        if not isinstance(pairs, list):
            raise HistoryFileError(f"samples of {name} must be a list of [seconds_before_now, value]")
        checked[name] = [_pair(name, pair) for pair in pairs]
    return Metrics.from_offsets(now, checked, lag=lag)


def _pair(name: str, pair: object) -> tuple[float, float]:
    numbers = pair if isinstance(pair, list) and len(pair) == 2 else None
    if numbers is None or not all(_is_number(x) for x in numbers):
        raise HistoryFileError(f"a sample of {name} must be [seconds_before_now, value], not {pair!r}")
    return float(numbers[0]), float(numbers[1])


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
