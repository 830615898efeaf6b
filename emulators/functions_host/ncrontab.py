"""Six-field NCRONTAB schedules (`{second} {minute} {hour} {day} {month} {day-of-week}`) and TimeSpans.

The Functions timer trigger uses the NCrontab library's semantics:
- `*`, numbers, `a-b`, lists `a,b`, steps `*/n`, `a-b/n` and `a/n` (= `a-max/n`); month names JAN-DEC
  and day names SUN-SAT, case-insensitive; day-of-week 0-6 with 7 also accepted as Sunday.
- When day-of-month and day-of-week are both restricted, a day must match both (NCrontab checks every
  field; Vixie cron would accept either). Chosen as NCrontab's behaviour; see docs/functions-host.md.
- `hh:mm:ss` is a fixed interval (App Service plans allow it).
Next occurrences are found by skipping whole months, days, hours and minutes that cannot match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)
_MONTHS = {
    m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})$")
_SEARCH_YEARS = 8  # any satisfiable schedule fires within 8 years (Feb 29 on a Sunday-free rule: 4)


class ScheduleError(ValueError):
    """The expression is not a valid schedule; the message names the field and the token."""


def _value(token: str, field: str, names: dict[str, int]) -> int:
    upper = token.upper()
    if upper in names:
        return names[upper]
    if not token.isdigit():
        raise ScheduleError(f"{field}: '{token}' is not a number{' or name' if names else ''}")
    return int(token)


def _parse_field(text: str, field: str, low: int, high: int) -> frozenset[int]:
    names = _MONTHS if field == "month" else _DAYS if field == "day-of-week" else {}
    values: set[int] = set()
    for part in text.split(","):
        range_part, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"{field}: bad step '{step_text}' in '{part}'")
            step = int(step_text)
        if range_part == "*":
            start, end = low, high
        elif "-" in range_part:
            a, _, b = range_part.partition("-")
            start, end = _value(a, field, names), _value(b, field, names)
        else:
            start = _value(range_part, field, names)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ScheduleError(f"{field}: '{part}' is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    if field == "day-of-week" and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        parts = expression.split()
        if len(parts) != 6:
            raise ScheduleError(
                f"'{expression}' has {len(parts)} fields; Azure Functions needs six: "
                "second minute hour day month day-of-week"
            )
        sets = [_parse_field(p, name, lo, hi) for p, (name, lo, hi) in zip(parts, _FIELDS, strict=True)]
        schedule = cls(expression, *sets)
        schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))  # refuses impossible dates such as 31 February
        return schedule

    def _day_matches(self, moment: datetime) -> bool:
        return moment.day in self.days and (moment.weekday() + 1) % 7 in self.weekdays

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (tz-aware), in UTC, whole seconds."""
        t = moment.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        limit = t.year + _SEARCH_YEARS
        while t.year <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
            elif t.second not in self.seconds:
                t += timedelta(seconds=1)
            else:
                return t
        raise ScheduleError(f"'{self.expression}' never fires (no date matches within {_SEARCH_YEARS} years)")


@dataclass(frozen=True)
class IntervalSchedule:
    expression: str
    interval: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment.astimezone(UTC).replace(microsecond=0) + self.interval


def parse_schedule(expression: str) -> CronSchedule | IntervalSchedule:
    m = _INTERVAL.match(expression.strip())
    if m:
        interval = timedelta(hours=int(m[1]), minutes=int(m[2]), seconds=int(m[3]))
        if interval <= timedelta(0):
            raise ScheduleError(f"'{expression}': an interval must be positive")
        return IntervalSchedule(expression, interval)
    return CronSchedule.parse(expression)
