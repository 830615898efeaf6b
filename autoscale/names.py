"""The names the service defines: targets and their aliases, metrics, constants and bare words.

Service-defined variables always start with `$`; a user variable may or may not. Everything here is
looked up by exact spelling (see `assumptions.py` for why names are case-sensitive).
"""

from __future__ import annotations

from datetime import timedelta

from autoscale import assumptions
from autoscale.values import Interval

TARGET_DEDICATED = "$TargetDedicatedNodes"
TARGET_LOW_PRIORITY = "$TargetLowPriorityNodes"
NODE_DEALLOCATION_OPTION = "$NodeDeallocationOption"
# Read-write service variables, in the order Azure prints them first in `autoScaleRun.results`.
SERVICE_VARIABLES = (TARGET_DEDICATED, TARGET_LOW_PRIORITY, NODE_DEALLOCATION_OPTION)
# Every spelling of a target, mapped to its full name. When a formula assigns both, the full name wins.
TARGETS = {
    TARGET_DEDICATED: TARGET_DEDICATED,
    "$TargetDedicated": TARGET_DEDICATED,
    TARGET_LOW_PRIORITY: TARGET_LOW_PRIORITY,
    "$TargetLowPriority": TARGET_LOW_PRIORITY,
}

DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
DEFAULT_DEALLOCATION_OPTION = "requeue"

# Read-only metrics: sample histories with GetSample and friends. The resource metrics after $CPUPercent
# are documented up to 2021 and absent from the current page; they are accepted here.
METRICS = (
    "$ActiveTasks", "$RunningTasks", "$PendingTasks", "$SucceededTasks", "$FailedTasks", "$TaskSlotsPerNode",
    "$CurrentDedicatedNodes", "$CurrentLowPriorityNodes", "$PreemptedNodeCount", "$UsableNodeCount",
    "$CPUPercent", "$WallClockSeconds", "$MemoryBytes", "$DiskBytes", "$DiskReadBytes", "$DiskWriteBytes",
    "$DiskReadOps", "$DiskWriteOps", "$NetworkInBytes", "$NetworkOutBytes", "$SampleNodeCount",
)  # fmt: skip
# Metrics that, read as a plain value, are the pool's current state rather than the latest sample.
# `$CurrentDedicated` and `$CurrentLowPriority` are the old names, still in Azure's own evaluate example.
POOL_VALUES = {
    "$CurrentDedicatedNodes": "current_dedicated",
    "$CurrentLowPriorityNodes": "current_low_priority",
    "$TaskSlotsPerNode": "task_slots_per_node",
    "$CurrentDedicated": "current_dedicated",
    "$CurrentLowPriority": "current_low_priority",
}

TIME_INTERVALS = {
    "TimeInterval_Zero": Interval(0),
    "TimeInterval_100ns": Interval(1),
    "TimeInterval_Microsecond": Interval.of(timedelta(microseconds=1)),
    "TimeInterval_Millisecond": Interval.of(timedelta(milliseconds=1)),
    "TimeInterval_Second": Interval.of(timedelta(seconds=1)),
    "TimeInterval_Minute": Interval.of(timedelta(minutes=1)),
    "TimeInterval_Hour": Interval.of(timedelta(hours=1)),
    "TimeInterval_Day": Interval.of(timedelta(days=1)),
    "TimeInterval_Week": Interval.of(timedelta(weeks=1)),
    "TimeInterval_Year": Interval.of(assumptions.YEAR),
}

# Members of a timestamp (`time().hour`). weekday: 1 = Monday (documented) … 7 = Sunday (assumptions).
TIMESTAMP_MEMBERS = ("year", "month", "day", "weekday", "hour", "minute", "second")

# Names a formula may not assign: the metrics (and their old aliases) and the constants.
READ_ONLY = frozenset(METRICS) | frozenset(POOL_VALUES) | frozenset(TIME_INTERVALS)
# Every name that means something before the formula assigns anything.
PREDEFINED = READ_ONLY | frozenset(TARGETS) | {NODE_DEALLOCATION_OPTION} | frozenset(DEALLOCATION_OPTIONS)
