"""Run-time values and how Azure prints them in `autoScaleRun.results`.

double → float; doubleVec → Vec; string → str; timestamp → datetime (UTC); timeinterval → timedelta;
`$NodeDeallocationOption`'s bare words → Word. Numbers print like C's `%g` (six significant digits),
vectors as `[a,b]`, timestamps as ISO-8601 UTC with milliseconds, intervals like .NET's TimeSpan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
TIME_INTERVALS = {
    "TimeInterval_Zero": timedelta(0),
    "TimeInterval_100ns": timedelta(microseconds=0.1),
    "TimeInterval_Microsecond": timedelta(microseconds=1),
    "TimeInterval_Millisecond": timedelta(milliseconds=1),
    "TimeInterval_Second": timedelta(seconds=1),
    "TimeInterval_Minute": timedelta(minutes=1),
    "TimeInterval_Hour": timedelta(hours=1),
    "TimeInterval_Day": timedelta(days=1),
    "TimeInterval_Week": timedelta(weeks=1),
    "TimeInterval_Year": timedelta(days=365),  # unverified length; see docs/autoscale.md
}


@dataclass(frozen=True)
class Vec:
    items: tuple[float, ...]


@dataclass(frozen=True)
class Word:
    text: str


Value = float | Vec | str | datetime | timedelta | Word


def type_name(value: Value) -> str:
    if isinstance(value, float):
        return "double"
    if isinstance(value, Vec):
        return "doubleVec"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, timedelta):
        return "timeinterval"
    return "enum"


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
    if isinstance(value, timedelta):
        return format_interval(value)
    if isinstance(value, Word):
        return value.text
    return value


def format_interval(value: timedelta) -> str:
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    days = f"{value.days}." if value.days else ""
    fraction = f".{value.microseconds * 10:07d}" if value.microseconds else ""
    return f"{sign}{days}{hours:02d}:{minutes:02d}:{seconds:02d}{fraction}"
