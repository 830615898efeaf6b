"""Metric histories as Azure keeps them: one sample per 30 s, visible after a lag, possibly missing.

A `MetricHistory` holds (time, value) samples of one metric, oldest first; the emulator appends one per
30 s with `record`, and a sample it never records is a missing sample. At evaluation time `now` a
sample is visible once `time <= now - lag` (`assumptions.SAMPLE_LAG`, 30 s). A window from `start`
to `end` holds the visible samples with `start < time <= end`, and its percentage is those samples
over the samples it could hold (`(end - start) / 30 s`, rounded down), times 100. Samples older than
the retention (`assumptions.SAMPLE_RETENTION`) before the newest are dropped as new ones arrive.

    metrics = Metrics()                                   # or Metrics(lag=timedelta(seconds=45))
    metrics.of("$PendingTasks").record(at, 12)            # at: an aware datetime
    Metrics.from_offsets(now, {"$PendingTasks": [[60, 12], [90, 10]]})   # the CLI's history file
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from autoscale import assumptions
from autoscale.names import METRICS

SAMPLE_PERIOD = timedelta(seconds=30)
DEFAULT_LAG = assumptions.SAMPLE_LAG


def as_utc(at: datetime) -> datetime:
    """Aware datetimes keep their instant; naive ones are taken as UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@dataclass
class MetricHistory:
    """Samples of one metric, oldest first."""

    samples: list[tuple[datetime, float]] = field(default_factory=list)
    retention: timedelta | None = assumptions.SAMPLE_RETENTION

    def record(self, at: datetime, value: float) -> None:
        """Add a sample; out-of-order samples are placed by time, and expired ones dropped."""
        bisect.insort(self.samples, (as_utc(at), float(value)), key=lambda s: s[0])
        if self.retention is not None:
            oldest = self.samples[-1][0] - self.retention
            del self.samples[: bisect.bisect_left(self.samples, oldest, key=lambda s: s[0])]

    def visible(self, now: datetime, lag: timedelta) -> list[tuple[datetime, float]]:
        return self.samples[: bisect.bisect_right(self.samples, now - lag, key=lambda s: s[0])]

    def latest(self, now: datetime, lag: timedelta, count: int) -> list[float]:
        """The `count` most recent visible samples, however old, oldest first."""
        visible = self.visible(now, lag)
        return [v for _, v in visible[len(visible) - count :]] if count > 0 else []

    def window(self, now: datetime, lag: timedelta, start: datetime, end: datetime) -> tuple[list[float], float]:
        """Visible values with start < time <= end (oldest first), and the window's percentage (0-100)."""
        visible = self.visible(now, lag)
        low = bisect.bisect_right(visible, start, key=lambda s: s[0])
        high = bisect.bisect_right(visible, end, key=lambda s: s[0])
        values = [v for _, v in visible[low:high]]
        possible = math.floor((end - start) / SAMPLE_PERIOD)
        percent = 100.0 * len(values) / possible if possible > 0 else 0.0
        return values, min(percent, 100.0)


_NO_SAMPLES = MetricHistory(retention=None)


@dataclass
class Metrics:
    """The histories of one pool's metrics and the visibility lag that applies to them all."""

    histories: dict[str, MetricHistory] = field(default_factory=dict)
    lag: timedelta = DEFAULT_LAG

    def of(self, name: str) -> MetricHistory:
        """The history to append to; created on first use."""
        if name not in METRICS:
            raise KeyError(f"{name} is not a metric; metrics are {', '.join(METRICS)}")
        return self.histories.setdefault(name, MetricHistory())

    def read(self, name: str) -> MetricHistory:
        """The history to read from, without creating one (an evaluation changes nothing)."""
        return self.histories.get(name, _NO_SAMPLES)

    @classmethod
    def from_offsets(
        cls, now: datetime, samples: Mapping[str, Iterable[Sequence[float]]], lag: timedelta = DEFAULT_LAG
    ) -> Metrics:
        """Build from `{metric: [[seconds_before_now, value], ...]}` (the CLI's history-file format)."""
        metrics = cls(lag=lag)
        for name, pairs in samples.items():
            history = metrics.of(name)
            for ago, value in pairs:
                history.record(as_utc(now) - timedelta(seconds=ago), value)
        return metrics


def pool_sample(*, active: int, running: int, succeeded: int, failed: int, slots_per_node: int, dedicated: int,
                low_priority: int, usable: int) -> dict[str, float]:  # fmt: skip
    """One 30 s sample of a pool's metrics, as the local Batch service and the simulator both record it."""
    return {
        "$ActiveTasks": active, "$RunningTasks": running, "$PendingTasks": active + running,
        "$SucceededTasks": succeeded, "$FailedTasks": failed, "$TaskSlotsPerNode": slots_per_node,
        "$CurrentDedicatedNodes": dedicated, "$CurrentLowPriorityNodes": low_priority, "$PreemptedNodeCount": 0,
        "$UsableNodeCount": usable,
    }  # fmt: skip
