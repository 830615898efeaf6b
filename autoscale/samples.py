"""Metric histories as Azure keeps them: one sample per 30 s, visible after a lag, possibly missing.

A `MetricHistory` holds (time, value) samples on the 30 s grid. At evaluation time `now`, a sample is
visible when `time <= now - lag` (Azure: about one minute). A window's percentage is visible samples
in the window divided by the samples the window could hold (window length / 30 s), times 100.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

SAMPLE_PERIOD = timedelta(seconds=30)
DEFAULT_LAG = timedelta(minutes=1)  # Azure's documented propagation delay, as a named default
METRICS = (
    "$ActiveTasks", "$RunningTasks", "$PendingTasks", "$SucceededTasks", "$FailedTasks", "$TaskSlotsPerNode",
    "$CurrentDedicatedNodes", "$CurrentLowPriorityNodes", "$PreemptedNodeCount", "$UsableNodeCount",
    "$CPUPercent", "$WallClockSeconds", "$MemoryBytes", "$DiskBytes", "$DiskReadBytes", "$DiskWriteBytes",
    "$DiskReadOps", "$DiskWriteOps", "$NetworkInBytes", "$NetworkOutBytes", "$SampleNodeCount",
)  # fmt: skip


@dataclass
class MetricHistory:
    """Samples of one metric, oldest first. Append as time passes; missing samples are simply absent."""

    samples: list[tuple[datetime, float]] = field(default_factory=list)

    def record(self, at: datetime, value: float) -> None:
        self.samples.append((at, float(value)))

    def visible(self, now: datetime, lag: timedelta) -> list[tuple[datetime, float]]:
        cutoff = now - lag
        return [(t, v) for t, v in self.samples if t <= cutoff]

    def window(self, now: datetime, lag: timedelta, start: datetime, end: datetime) -> tuple[list[float], float]:
        """Visible values with start < time <= end (oldest first), and the window's percentage."""
        values = [v for t, v in self.visible(now, lag) if start < t <= end]
        possible = math.floor((end - start) / SAMPLE_PERIOD)
        percent = 100.0 * len(values) / possible if possible > 0 else 0.0
        return values, min(percent, 100.0)


@dataclass
class Metrics:
    """All metric histories of a pool plus the visibility lag."""

    histories: dict[str, MetricHistory] = field(default_factory=dict)
    lag: timedelta = DEFAULT_LAG

    def of(self, name: str) -> MetricHistory:
        return self.histories.setdefault(name, MetricHistory())

    @classmethod
    def from_offsets(
        cls, now: datetime, samples: Mapping[str, Iterable[Sequence[float]]], lag: timedelta = DEFAULT_LAG
    ) -> Metrics:
        """Build from `{metric: [[seconds_before_now, value], ...]}` (the CLI's history-file format)."""
        metrics = cls(lag=lag)
        for name, pairs in samples.items():
            history = metrics.of(name)
            for ago, value in sorted(pairs, key=lambda p: -p[0]):
                history.record(now - timedelta(seconds=ago), value)
        return metrics
