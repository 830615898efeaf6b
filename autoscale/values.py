"""Run-time values and how Azure prints them in `autoScaleRun.results`.

double → float; doubleVec → Vec; string → str; timestamp → datetime (UTC); timeinterval → Interval
(100 ns ticks, as .NET's TimeSpan, so `TimeInterval_100ns` is not zero); `$NodeDeallocationOption`'s
bare words → Word. Numbers print like C's `%g` (six significant digits), vectors as `[a,b]`,
timestamps as ISO 8601 UTC with milliseconds, intervals as .NET prints a TimeSpan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

TICKS_PER_SECOND = 10_000_000
TICKS_PER_MICROSECOND = 10


@dataclass(frozen=True)
class Vec:
    items: tuple[float, ...]


@dataclass(frozen=True)
class Word:
    """A bare word such as `taskcompletion`: a value only `$NodeDeallocationOption` accepts."""

    text: str


@dataclass(frozen=True, order=True)
class Interval:
    ticks: int

    @classmethod
    def of(cls, delta: timedelta) -> Interval:
        return cls(((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * TICKS_PER_MICROSECOND)

    @classmethod
    def scaled(cls, ticks: float) -> Interval:
        if math.isnan(ticks) or abs(ticks) > 2**63:  # beyond a TimeSpan
            raise OverflowError("the time interval is out of range")
        return cls(round(ticks))

    def as_timedelta(self) -> timedelta:
        # Timestamps carry microseconds; the sub-microsecond rest of an interval is dropped there.
        return timedelta(microseconds=int(self.ticks / TICKS_PER_MICROSECOND))


Value = float | Vec | str | datetime | Interval | Word


def type_name(value: Value) -> str:
    if isinstance(value, float):
        return "double"
    if isinstance(value, Vec):
        return "doubleVec"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, Interval):
        return "timeinterval"
    return "enumeration value"


def format_number(x: float) -> str:
    text = f"{x:g}"
    return "0" if text == "-0" else text


def format_value(value: Value) -> str:
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, Vec):
        return "[" + ",".join(format_number(x) for x in value.items) + "]"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, Interval):
        return format_interval(value)
    if isinstance(value, Word):
        return value.text
    return value


def format_interval(value: Interval) -> str:
    """`[-][d.]hh:mm:ss[.fffffff]`, .NET's TimeSpan.ToString()."""
    sign = "-" if value.ticks < 0 else ""
    seconds, fraction = divmod(abs(value.ticks), TICKS_PER_SECOND)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    day_part = f"{days}." if days else ""
    fraction_part = f".{fraction:07d}" if fraction else ""
    return f"{sign}{day_part}{hour:02d}:{minute:02d}:{second:02d}{fraction_part}"
