"""The methods of the metric variables, over a `MetricHistory` at the evaluation's `now`.

    GetSample(count)                              the `count` latest visible samples, however old
    GetSample(start [, end] [, percent])          the visible samples in the window; fails the whole
                                                  evaluation below `percent` (default: assumptions.
                                                  DEFAULT_REQUIRED_SAMPLE_PERCENT) with InsufficientSampleData
    GetSamplePercent(start [, end])               the window's percentage of possible samples, 0-100
    GetSamplePeriod()                             30 s
    Count()                                       visible samples in the history
    HistoryBeginTime()                            the oldest visible sample's time

`start` and `end` are timeintervals ("this long before now") or timestamps; their order does not matter.
Vectors are oldest first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from autoscale import assumptions, errors
from autoscale.errors import Fault, FormulaError, Position
from autoscale.samples import SAMPLE_PERIOD, MetricHistory
from autoscale.values import Interval, Value, Vec, type_name


def call_method(
    metric: str, method: str, args: Sequence[Value], *, history: MetricHistory, now: datetime, lag: timedelta,
    arguments_at: Position,
) -> Value:  # fmt: skip
    if method == "GetSamplePeriod":
        return Interval.of(SAMPLE_PERIOD)
    if method == "Count":
        return float(len(history.visible(now, lag)))
    if method == "HistoryBeginTime":
        visible = history.visible(now, lag)
        if not visible:
            raise Fault(f"{metric} has no samples, so no history begin time")
        return visible[0][0]
    if method == "GetSample" and len(args) == 1 and isinstance(args[0], float):
        if not math.isfinite(args[0]):
            raise Fault(f"GetSample's count must be a finite number, not {args[0]:g}")
        return Vec(tuple(history.latest(now, lag, int(args[0]))))
    start, end, wanted = _window_arguments(method, args, now)
    values, percent = history.window(now, lag, min(start, end), max(start, end))
    if method == "GetSamplePercent":
        return percent
    required = assumptions.DEFAULT_REQUIRED_SAMPLE_PERCENT if wanted is None else wanted
    if percent < required:
        raise FormulaError(
            errors.INSUFFICIENT_SAMPLES,
            f"Insufficient data from data set: {metric} wanted {required:g}%, received {int(percent)}%",
            arguments_at,
        )
    return Vec(tuple(values))


def _window_arguments(method: str, args: Sequence[Value], now: datetime) -> tuple[datetime, datetime, float | None]:
    """(start, end, required percent) from `start [, end] [, percent]`; end defaults to now."""
    start = _when(args[0], now, f"{method}'s first argument")
    rest = list(args[1:])
    end = now
    if rest and not isinstance(rest[0], float):
        end = _when(rest.pop(0), now, f"{method}'s end")
    wanted: float | None = None
    percent = rest[0] if rest else None
    if method == "GetSample" and isinstance(percent, float):
        wanted = percent
        rest.pop(0)
    if rest:
        allowed = "(start [, end] [, percent])" if method == "GetSample" else "(start [, end])"
        position = len(args) - len(rest) + 1
        raise Fault(f"{method} takes {allowed}; argument {position}, a {type_name(rest[0])}, does not fit")
    return start, end, wanted


def _when(value: Value, now: datetime, what: str) -> datetime:
    if isinstance(value, Interval):
        try:
            return now - value.as_timedelta()  # a look-back: "this long ago"
        except OverflowError as exc:
            raise Fault(f"{what} reaches outside the calendar") from exc
    if isinstance(value, datetime):
        return value
    raise Fault(f"{what} must be a timeinterval or a timestamp, not a {type_name(value)}")
