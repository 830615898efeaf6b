from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.functions_host.ncrontab import CronSchedule, IntervalSchedule, ScheduleError, parse_schedule


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:  # noqa: PLR0917 - mirrors datetime()
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/5 * * * * *", at(2027, 3, 1, 0, 0, 3), at(2027, 3, 1, 0, 0, 5)),
        ("0 */5 * * * *", at(2027, 3, 1, 0, 4, 59), at(2027, 3, 1, 0, 5, 0)),
        ("0 0 * * * *", at(2026, 12, 31, 23, 0, 0), at(2027, 1, 1, 0, 0, 0)),  # strictly after; year rollover
        ("0 30 9 * * MON-FRI", at(2026, 11, 21, 10), at(2026, 11, 23, 9, 30)),  # Saturday → Monday
        ("0 0 0 29 2 *", at(2027, 3, 1), at(2028, 2, 29)),  # next leap day
        ("0 0 0 13 * 5", at(2026, 11, 21), at(2027, 8, 13)),  # both day fields: Friday the 13th only
        ("0 0 12 * JAN,jul SUN", at(2026, 11, 22, 12), at(2027, 1, 3, 12)),
        ("0 0 0 * * 7", at(2026, 11, 22), at(2026, 11, 29)),  # 7 is Sunday too
        ("10-20/5 * * * * *", at(2027, 1, 1, 0, 0, 16), at(2027, 1, 1, 0, 0, 20)),
        ("30/15 * * * * *", at(2027, 1, 1, 0, 0, 46), at(2027, 1, 1, 0, 1, 30)),
    ],
)
def test_next_occurrence(expression, after, expected):
    assert CronSchedule.parse(expression).next_after(after) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 */5 * * *", "six"),
        ("60 * * * * *", "second: '60' is outside 0-59"),
        ("0 0 25 * * *", "hour"),
        ("0 0 0 * FOO *", "month: 'FOO'"),
        ("*/0 * * * * *", "bad step"),
        ("0 0 0 10-5 * *", "day"),
        ("0 0 0 31 2 *", "never fires"),
    ],
)
def test_invalid_schedules_name_the_field(expression, message):
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(expression)


def test_timespan_schedule_is_an_interval():
    schedule = parse_schedule("00:05:00")
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.next_after(at(2027, 1, 1, 0, 0, 0)) == at(2027, 1, 1, 0, 5, 0)
    with pytest.raises(ScheduleError):
        parse_schedule("00:00:00")


field = st.one_of(st.just("*"), st.integers(0, 59).map(str), st.integers(1, 30).map(lambda n: f"*/{n}"))


@settings(max_examples=60, deadline=None)
@given(seconds=field, minutes=field, moment=st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)))
def test_next_after_is_the_first_matching_second(seconds, minutes, moment):
    schedule = CronSchedule.parse(f"{seconds} {minutes} * * * *")
    start = moment.replace(tzinfo=UTC)
    found = schedule.next_after(start)
    assert found > start
    assert found.second in schedule.seconds and found.minute in schedule.minutes
    # brute force over every second in between (at most one hour for these schedules)
    probe = start.replace(microsecond=0) + timedelta(seconds=1)
    while probe < found:
        assert not (probe.second in schedule.seconds and probe.minute in schedule.minutes)
        probe += timedelta(seconds=1)
