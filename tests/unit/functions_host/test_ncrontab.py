from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.functions_host import ncrontab
from emulators.functions_host.ncrontab import CronSchedule, IntervalSchedule, ScheduleError, parse_schedule
from tests.support.line_budget import lines_run

NCRONTAB = Path(ncrontab.__file__)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:  # noqa: PLR0917 - mirrors datetime()
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/5 * * * * *", at(2027, 3, 1, 0, 0, 3), at(2027, 3, 1, 0, 0, 5)),
        ("*/5 * * * * *", at(2027, 3, 1, 0, 0, 5), at(2027, 3, 1, 0, 0, 10)),  # strictly after an occurrence
        ("0 */5 * * * *", at(2027, 3, 1, 0, 4, 59), at(2027, 3, 1, 0, 5, 0)),
        ("0 0 * * * *", at(2026, 12, 31, 23, 0, 0), at(2027, 1, 1, 0, 0, 0)),  # year rollover
        ("59 59 23 31 12 *", at(2026, 12, 31, 23, 59, 59), at(2027, 12, 31, 23, 59, 59)),
        ("0 0 0 31 * *", at(2027, 1, 31, 0, 0, 1), at(2027, 3, 31)),  # months without a 31st are skipped
        ("0 0 0 1 * *", at(2027, 1, 31, 23, 59, 59), at(2027, 2, 1)),  # month rollover at the last second
        ("0 30 9 * * MON-FRI", at(2026, 11, 21, 10), at(2026, 11, 23, 9, 30)),  # Saturday -> Monday
        ("0 0 0 29 2 *", at(2027, 3, 1), at(2028, 2, 29)),  # next leap day from a non-leap year
        ("0 0 0 29 2 *", at(2096, 2, 29, 0, 0, 0), at(2104, 2, 29)),  # 2100 is not a leap year
        ("0 0 0 29 2 MON", at(2024, 3, 1), at(2044, 2, 29)),  # leap day AND Monday: 20 years away
        ("0 0 0 13 * 5", at(2026, 11, 21), at(2027, 8, 13)),  # both day fields: Friday the 13th only
        ("0 0 12 * JAN,jul SUN", at(2026, 11, 22, 12), at(2027, 1, 3, 12)),
        ("0 0 12 1 February,MaR *", at(2027, 2, 1, 12), at(2027, 3, 1, 12)),  # full names and prefixes
        ("0 0 0 * * 7", at(2026, 11, 22), at(2026, 11, 29)),  # 7 is Sunday too
        ("0 0 0 * * 5-7", at(2026, 11, 22), at(2026, 11, 27)),  # a range ending on 7 runs Friday to Sunday
        ("0 0 0 * * sat-7", at(2026, 11, 22), at(2026, 11, 28)),
        ("0 0 0 * * sat-sun", at(2026, 11, 22), at(2026, 11, 23)),  # reversed, so swapped: SUN-SAT, every day
        ("10-20/5 * * * * *", at(2027, 1, 1, 0, 0, 16), at(2027, 1, 1, 0, 0, 20)),
        ("10-20/5 * * * * *", at(2027, 1, 1, 0, 0, 20), at(2027, 1, 1, 0, 1, 10)),
        ("30/15 * * * * *", at(2027, 1, 1, 0, 0, 46), at(2027, 1, 1, 0, 1, 30)),  # a/n runs a..59
        ("20-10 * * * * *", at(2027, 1, 1, 0, 0, 9), at(2027, 1, 1, 0, 0, 10)),  # reversed range swapped
        ("0 0 9-17/4 * * *", at(2027, 1, 1, 17, 0, 1), at(2027, 1, 2, 9)),
        ("0 0 0 1 1 *", at(2026, 6, 1, 0, 0, 0).replace(microsecond=999_999), at(2027, 1, 1)),
    ],
)
def test_next_occurrence(expression, after, expected):
    assert CronSchedule.parse(expression).next_after(after) == expected


def test_result_is_utc_whole_seconds_for_any_timezone():
    moment = datetime(2027, 1, 1, 2, 0, 0, 500_000, tzinfo=timezone(timedelta(hours=2)))  # 00:00:00.5 UTC
    found = CronSchedule.parse("* * * * * *").next_after(moment)
    assert found == at(2027, 1, 1, 0, 0, 1)
    assert found.tzinfo is UTC and found.microsecond == 0


def test_naive_moments_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        CronSchedule.parse("* * * * * *").next_after(datetime(2027, 1, 1))


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("*/5 * * *", "4 fields; Azure Functions needs six"),
        ("0 0 0 * * * *", "7 fields"),
        ("60 * * * * *", r"field 1 \(second\): '60': values must be between 0 and 59"),
        ("0 60 * * * *", r"field 2 \(minute\)"),
        ("0 0 24 * * *", r"field 3 \(hour\): '24'"),
        ("0 0 0 0 * *", r"field 4 \(day\): '0'"),
        ("0 0 0 * 13 *", r"field 5 \(month\): '13'"),
        ("0 0 0 * * 8", r"field 6 \(day-of-week\): '8'"),
        ("0 0 0 * FOO *", r"field 5 \(month\): 'FOO' is not a number or a name"),
        ("0 0 0 * JA *", "'JA' is not a number or a name"),  # names need three letters
        ("0 0 0 * * MOX", "'MOX'"),
        ("x * * * * *", r"field 1 \(second\): 'x' is not a number$"),
        ("*/0 * * * * *", "'\\*/0': the step must be a whole number of at least 1"),
        ("*/x * * * * *", "step"),
        ("0 0 0 1,,2 * *", "a value is missing"),
        ("0 0 0 -5 * *", r"field 4 \(day\): '-5' is not a number"),
        ("0 0 0 31 2 *", "never fires"),
        ("0 0 0 30,31 2,4 *", None),  # April has a 30th: valid
        ("0 0 0 30 FEB *", "never fires"),
        ("1.2:3:4:5", "neither a six-field NCRONTAB expression nor a TimeSpan"),
    ],
)
def test_invalid_schedules_name_the_field_and_token(expression, message):
    if message is None:
        assert parse_schedule(expression).next_after(at(2027, 1, 1)) == at(2027, 4, 30)
        return
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(expression)


def test_errors_quote_the_expression():
    with pytest.raises(ScheduleError, match=r"^'0 0 25 \* \* \*': field 3"):
        CronSchedule.parse("0 0 25 * * *")


def test_no_occurrence_before_year_9999_is_an_error_not_a_hang():
    with pytest.raises(ScheduleError, match="no occurrence after"):
        CronSchedule.parse("0 0 0 29 2 *").next_after(at(9999, 3, 1))
    with pytest.raises(ScheduleError):
        CronSchedule.parse("* * * * * *").next_after(at(9999, 12, 31, 23, 59, 59))


def test_rare_schedules_are_found_by_skipping_not_stepping():
    # A Monday 29 February can be 39 years away (2073 -> 2112): stepping through the days between would run
    # more than 14,000 lines of the module, each second more than a billion; skipping to the matching months
    # of each year runs a few hundred.
    schedule = CronSchedule.parse("0 0 0 29 2 MON")
    for year in range(2000, 2400):
        found, _ = lines_run(partial(schedule.next_after, at(year, 1, 1)), 1_000, NCRONTAB)
        assert (found.month, found.day, found.weekday()) == (2, 29, 0)


@pytest.mark.parametrize(
    ("text", "interval"),
    [
        ("00:05:00", timedelta(minutes=5)),
        ("01:00:00", timedelta(hours=1)),
        (" 00:00:30 ", timedelta(seconds=30)),
        ("1:2:3", timedelta(hours=1, minutes=2, seconds=3)),
        ("01:30", timedelta(hours=1, minutes=30)),
        ("1.00:00:00", timedelta(days=1)),
        ("2.03:04", timedelta(days=2, hours=3, minutes=4)),
        ("25:00:00:00", timedelta(days=25)),
        ("24:00:00", timedelta(days=24)),  # .NET reads hh >= 24 as dd:hh:mm
        ("30:12:15", timedelta(days=30, hours=12, minutes=15)),
        ("7", timedelta(days=7)),
    ],
)
def test_timespan_schedules_are_intervals(text, interval):
    schedule = parse_schedule(text)
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.interval == interval
    moment = datetime(2027, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC)
    assert schedule.next_after(moment) == at(2027, 1, 1) + interval


@pytest.mark.parametrize(
    ("text", "message"), [("00:00:00", "longer than zero"), ("00:60:00", "minutes"), ("1.24:00", "hours")]
)
def test_bad_timespans(text, message):
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(text)


# --- property test: an independent model of each field, and a day-by-day reference search ---

_SPECS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("dow", 0, 6))
_NAMES = {
    4: ["jan", "FEB", "Mar", "april", "MAY", "jun", "July", "aug", "SEP", "oct", "Nov", "december"],
    5: ["SUN", "mon", "Tue", "wednesday", "THU", "fri", "Sat"],
}
_LONGEST = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_REFERENCE_DAYS = 800


@st.composite
def _field(draw: st.DrawFn, index: int) -> tuple[str, set[int]]:
    _, low, high = _SPECS[index]
    top = 7 if index == 5 else high

    def token(value: int) -> str:
        names = _NAMES.get(index)
        if names and value <= high and draw(st.booleans()):
            return names[value - low]
        return str(value)

    items, values = [], set()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["*", "*/n", "a", "a-b", "a-b/n", "a/n"]))
        a, b, n = draw(st.integers(low, top)), draw(st.integers(low, top)), draw(st.integers(1, 12))
        lo, hi = sorted((a, b))
        if kind == "*":
            items.append("*")
            values |= set(range(low, high + 1))
        elif kind == "*/n":
            items.append(f"*/{n}")
            values |= set(range(low, high + 1, n))
        elif kind == "a":
            items.append(token(a))
            values.add(a)
        elif kind == "a-b":
            items.append(f"{token(a)}-{token(b)}")
            values |= set(range(lo, hi + 1))
        elif kind == "a-b/n":
            items.append(f"{token(a)}-{token(b)}/{n}")
            values |= set(range(lo, hi + 1, n))
        else:
            items.append(f"{token(a)}/{n}")
            values |= set(range(a, high + 1, n)) if a <= high else {a}
    if index == 5:
        values = {0 if v == 7 else v for v in values}
    return ",".join(items), values


def _fires(fields: list[set[int]], d: date) -> bool:
    return d.day in fields[3] and d.month in fields[4] and (d.weekday() + 1) % 7 in fields[5]


def _reference_next(fields: list[set[int]], moment: datetime) -> datetime | None:
    start = moment.replace(microsecond=0) + timedelta(seconds=1)
    for offset in range(_REFERENCE_DAYS):
        d = start.date() + timedelta(days=offset)
        if not _fires(fields, d):
            continue
        floor = (start.hour, start.minute, start.second) if offset == 0 else (0, 0, 0)
        for h in sorted(v for v in fields[2] if v >= floor[0]):
            for m in sorted(v for v in fields[1] if (h, v) >= floor[:2]):
                for s in sorted(v for v in fields[0] if (h, m, v) >= floor):
                    return datetime(d.year, d.month, d.day, h, m, s, tzinfo=UTC)
    return None


@settings(max_examples=100, deadline=None)
@given(
    drawn=st.tuples(*(_field(i) for i in range(6))),
    moment=st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_next_after_matches_an_independent_reference(drawn, moment):
    expression = " ".join(text for text, _ in drawn)
    fields = [values for _, values in drawn]
    if not any(d <= _LONGEST[m - 1] for m in fields[4] for d in fields[3]):
        with pytest.raises(ScheduleError, match="never fires"):
            CronSchedule.parse(expression)
        return
    found = CronSchedule.parse(expression).next_after(moment)
    assert found > moment
    assert found.microsecond == 0
    assert found.tzinfo is UTC
    assert found.second in fields[0] and found.minute in fields[1] and found.hour in fields[2]
    assert _fires(fields, found.date())
    expected = _reference_next(fields, moment)
    if expected is not None:
        assert found == expected
    else:  # nothing within the reference window: the answer must lie beyond it
        assert found.date() >= moment.date() + timedelta(days=_REFERENCE_DAYS)


def test_five_fields_are_a_schedule_without_seconds_as_the_timer_extension_reads_them():
    five, six = CronSchedule.parse("*/5 * * * *"), CronSchedule.parse("0 */5 * * * *")
    moment = datetime(2027, 1, 1, 10, 2, 30, tzinfo=UTC)
    assert five.next_after(moment) == six.next_after(moment) == datetime(2027, 1, 1, 10, 5, tzinfo=UTC)
