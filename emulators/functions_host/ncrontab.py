"""Timer schedules as the Functions timer trigger reads them: six-field NCRONTAB, else a .NET TimeSpan.

NCRONTAB (`{second} {minute} {hour} {day} {month} {day-of-week}`), following the NCrontab library:
- `*`, `n`, `a-b`, lists `a,b`, steps `*/n`, `a-b/n` and `a/n` (from `a` to the field's maximum);
- month and week-day names: any prefix of three letters or more of the English name, any case (`jan`,
  `July`, `MON`); week days run 0-6 from Sunday;
- a reversed range `b-a` is read as `a-b` (NCrontab swaps the ends);
- day-of-month and day-of-week must BOTH match (NCrontab checks the week day of each candidate date),
  so `0 0 0 13 * FRI` fires on Friday the 13th only, where Vixie cron would fire on every 13th and
  every Friday; days 29-31 are skipped in months that lack them;
- five-field expressions are refused, as Azure parses with seconds included.
Departures from NCrontab: 7 is accepted as Sunday (NCrontab allows 0-6 only); a name needs three letters
(NCrontab takes the first name a shorter prefix fits); a zero step is refused (NCrontab quietly reads it
as 1); a schedule no date satisfies (`0 0 0 31 2 *`) is refused at parse (NCrontab would report its next
occurrence as the end of time).

TimeSpan (App Service plans): `hh:mm`, `hh:mm:ss`, `d.hh:mm[:ss]`, `d:hh:mm:ss`, or a bare day count;
as in .NET, `hh:mm:ss` with `hh` of 24 or more reads as `dd:hh:mm` ("24:00:00" is 24 days).
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, timedelta

_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 6),
)
_MONTHS: tuple[str, ...] = ("january", "february", "march", "april", "may", "june")
_MONTHS += ("july", "august", "september", "october", "november", "december")
_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_NUMBER = re.compile(r"[0-9]+")
_TIMESPAN = re.compile(r"\s*(?:(?P<days>[0-9]+)\.)?(?P<parts>[0-9]+(?::[0-9]+){1,3})\s*|\s*(?P<bare>[0-9]+)\s*")
# The Gregorian calendar, week days included, repeats every 400 years: a date that exists at all falls on
# every week day within any 401 consecutive years, so the search below is bounded.
_CYCLE_YEARS = 400


class ScheduleError(ValueError):
    """The expression is not a valid schedule; the message names the field and the bad token."""


def _value(token: str, index: int, names: tuple[str, ...]) -> int:
    if _NUMBER.fullmatch(token):
        return int(token)
    field, low, _ = _FIELDS[index]
    lowered = token.lower()
    if names and len(lowered) >= 3:
        for i, name in enumerate(names):
            if name.startswith(lowered):
                return i + low
    kind = "a number or a name" if names else "a number"
    raise ScheduleError(f"field {index + 1} ({field}): '{token}' is not {kind}")


def _parse_field(text: str, index: int) -> tuple[int, ...]:
    field, low, high = _FIELDS[index]
    names = _MONTHS if field == "month" else _DAYS if field == "day-of-week" else ()
    top = 7 if field == "day-of-week" else high  # 7 is Sunday too (read as 0 below)
    values: set[int] = set()
    for part in text.split(","):
        body, slash, step_text = part.partition("/")
        where = f"field {index + 1} ({field}): '{part}'"
        step = 1
        if slash:
            if not _NUMBER.fullmatch(step_text) or int(step_text) == 0:
                raise ScheduleError(f"{where}: the step must be a whole number of at least 1")
            step = int(step_text)
        first, dash, last = body.partition("-")
        if not body:
            raise ScheduleError(f"{where}: a value is missing")
        if body == "*":
            start, end = low, high
        elif dash and first:
            start, end = sorted((_value(first, index, names), _value(last, index, names)))
        else:
            start = _value(body, index, names)
            end = start if not slash else high
        if not (low <= start <= top and low <= end <= top):
            raise ScheduleError(f"{where}: values must be between {low} and {high}")
        values.update(range(start, end + 1, step) if start <= end else [start])
    if field == "day-of-week" and 7 in values:
        values = (values - {7}) | {0}
    return tuple(sorted(values))


def _after(values: tuple[int, ...], value: int) -> int | None:
    """The smallest member >= value, or None."""
    i = bisect_left(values, value)
    return values[i] if i < len(values) else None


@dataclass(frozen=True)
class CronSchedule:
    """A six-field NCRONTAB schedule; each field holds its allowed values in ascending order."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]  # 0 = Sunday

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        parts = expression.split()
        if len(parts) == 5:  # the timer extension reads five fields as a schedule without seconds (CronSchedule.cs)
            parts = ["0", *parts]
        if len(parts) != 6:
            raise ScheduleError(
                f"'{expression}' has {len(parts)} fields; Azure Functions needs six, "
                "{second} {minute} {hour} {day} {month} {day-of-week}, or five without the seconds"
            )
        try:
            fields = [_parse_field(p, i) for i, p in enumerate(parts)]
        except ScheduleError as e:
            raise ScheduleError(f"'{expression}': {e}") from None
        schedule = cls(expression, *fields)
        if not any(d <= _LONGEST_MONTH[m - 1] for m in schedule.months for d in schedule.days):
            raise ScheduleError(f"'{expression}' never fires: none of its months has any of its days")
        return schedule

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (timezone-aware), in UTC with whole seconds."""
        if moment.utcoffset() is None:
            raise ValueError(f"next_after needs a timezone-aware moment, got {moment!r}")
        try:
            found = self._first_from(moment.astimezone(UTC).replace(microsecond=0, tzinfo=None) + timedelta(seconds=1))
        except OverflowError:  # the search ran past year 9999
            found = None
        if found is None:
            raise ScheduleError(f"'{self.expression}' has no occurrence after {moment.isoformat()}")
        return found.replace(tzinfo=UTC)

    def _first_from(self, start: datetime) -> datetime | None:
        """The first occurrence at or after `start` (naive, UTC)."""
        today = start.date()
        day = self._next_date(today)
        time = None
        if day == today:
            time = self._next_time(start.hour, start.minute, start.second)
            if time is None:
                day = self._next_date(today + timedelta(days=1))
        if day is None:
            return None
        hour, minute, second = time or (self.hours[0], self.minutes[0], self.seconds[0])
        return datetime(day.year, day.month, day.day, hour, minute, second)

    def _next_date(self, start: date) -> date | None:
        """The first date on or after `start` whose month, day and week day all match."""
        year, month, first_day = start.year, start.month, start.day
        last_year = min(start.year + _CYCLE_YEARS, MAXYEAR)
        while year <= last_year:
            if month in self.months:
                length = calendar.monthrange(year, month)[1]
                for day in self.days[bisect_left(self.days, first_day) :]:
                    if day > length:
                        break
                    if (date(year, month, day).weekday() + 1) % 7 in self.weekdays:
                        return date(year, month, day)
            i = bisect_right(self.months, month)
            year, month = (year, self.months[i]) if i < len(self.months) else (year + 1, self.months[0])
            first_day = 1
        return None

    def _next_time(self, hour: int, minute: int, second: int) -> tuple[int, int, int] | None:
        """The first (hour, minute, second) on or after the given one within a day, or None."""
        if hour in self.hours:
            if minute in self.minutes and (s := _after(self.seconds, second)) is not None:
                return hour, minute, s
            if (m := _after(self.minutes, minute + 1)) is not None:
                return hour, m, self.seconds[0]
        if (h := _after(self.hours, hour + 1)) is not None:
            return h, self.minutes[0], self.seconds[0]
        return None


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule: a fixed interval after each occurrence (the timer extension's ConstantSchedule)."""

    expression: str
    interval: timedelta

    def next_after(self, moment: datetime) -> datetime:
        if moment.utcoffset() is None:
            raise ValueError(f"next_after needs a timezone-aware moment, got {moment!r}")
        return moment.astimezone(UTC).replace(microsecond=0) + self.interval


def _timespan(expression: str) -> timedelta | None:
    m = _TIMESPAN.fullmatch(expression)
    if m is None:
        return None
    if m["bare"] is not None:
        return timedelta(days=int(m["bare"]))
    numbers = [int(n) for n in m["parts"].split(":")]
    days = int(m["days"] or 0)
    if len(numbers) == 4 and m["days"] is None:
        days, numbers = numbers[0], numbers[1:]
    elif len(numbers) == 3 and m["days"] is None and numbers[0] >= 24:
        days, numbers = numbers[0], [*numbers[1:], 0]  # .NET reads an overflowing hh:mm:ss as dd:hh:mm
    elif len(numbers) == 4:
        return None
    hours, minutes, seconds = (*numbers, 0)[:3]
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ScheduleError(f"'{expression}': a TimeSpan needs hours 0-23, minutes and seconds 0-59")
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def parse_schedule(expression: str) -> CronSchedule | IntervalSchedule:
    """Read a timer trigger schedule: NCRONTAB first, then a TimeSpan, as the timer extension does."""
    interval = _timespan(expression)
    if interval is None:
        if len(expression.split()) == 1 and ":" in expression:
            raise ScheduleError(f"'{expression}' is neither a six-field NCRONTAB expression nor a TimeSpan")
        return CronSchedule.parse(expression)
    if interval <= timedelta(0):
        raise ScheduleError(f"'{expression}': a TimeSpan schedule must be longer than zero")
    return IntervalSchedule(expression, interval)
