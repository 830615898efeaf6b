from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.webhooks.retry import MAX_ATTEMPTS, MAX_RETRY_AFTER, SCHEDULE, Outcome, decide, retry_after
from sitelens.api_client import asked_wait
from sitelens.dashboard_sampler import PoolSampler

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_schedule_spans_about_three_days():
    total = sum(SCHEDULE, timedelta())
    assert timedelta(days=3) <= total <= timedelta(days=3, hours=6)
    assert MAX_ATTEMPTS == 10


@pytest.mark.parametrize("status", [200, 201, 204])
def test_2xx_delivers(status):
    assert decide(1, status, {}, NOW).outcome is Outcome.DELIVERED


def test_410_means_gone():
    assert decide(3, 410, {}, NOW).outcome is Outcome.GONE


@pytest.mark.parametrize("status", [None, 500, 302, 400, 404])
def test_failures_retry_on_schedule_with_jitter(status):
    d = decide(2, status, {}, NOW, random.Random(1))
    assert d.outcome is Outcome.RETRY
    assert d.next_attempt_at is not None
    assert SCHEDULE[1] * 0.9 <= d.next_attempt_at - NOW <= SCHEDULE[1] * 1.1


def test_last_attempt_exhausts():
    assert decide(MAX_ATTEMPTS, 500, {}, NOW).outcome is Outcome.EXHAUSTED


def test_429_honours_retry_after_seconds_and_dates():
    d = decide(1, 429, {"Retry-After": "120"}, NOW)
    assert d.next_attempt_at == NOW + timedelta(seconds=120)
    d = decide(1, 503, {"Retry-After": "120"}, NOW, random.Random(1))  # only throttling codes honour it
    assert d.next_attempt_at is not None and d.next_attempt_at - NOW < timedelta(seconds=10)
    d = decide(1, 429, {"retry-after": "Sun, 22 Nov 2026 12:10:00 GMT"}, NOW)
    assert d.next_attempt_at == NOW + timedelta(minutes=10)
    d = decide(2, 429, {"Retry-After": "1"}, NOW, random.Random(1))  # never sooner than the schedule
    assert d.next_attempt_at is not None and d.next_attempt_at - NOW >= SCHEDULE[1] * 0.9


def test_a_scaled_schedule_waits_that_share_but_a_receivers_retry_after_in_full():
    d = decide(3, 500, {}, NOW, random.Random(1), scale=0.1)
    assert d.next_attempt_at is not None
    assert SCHEDULE[2] * 0.09 <= d.next_attempt_at - NOW <= SCHEDULE[2] * 0.11
    d = decide(1, 429, {"Retry-After": "120"}, NOW, random.Random(1), scale=0.1)
    assert d.next_attempt_at == NOW + timedelta(seconds=120)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\u00b2", None),  # a digit to str.isdigit, not to int()
        ("\u0663", None),  # an Arabic-Indic digit, which int() would read as 3
        ("9" * 5000, MAX_RETRY_AFTER),  # past int()'s digit limit
        ("300000000000", MAX_RETRY_AFTER),  # past datetime's range once added to now
        ("86401", MAX_RETRY_AFTER),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        ("Sun, 22 Nov 2026 12:10:00 GMT", timedelta(minutes=10)),
        ("120", timedelta(seconds=120)),
    ],
)
def test_any_retry_after_is_read_within_bounds_and_never_raises(value, expected):
    d = decide(1, 429, {"Retry-After": value}, NOW, random.Random(1))
    assert d.outcome is Outcome.RETRY and d.next_attempt_at is not None
    if expected is None:  # unreadable: the schedule alone decides
        assert SCHEDULE[0] * 0.9 <= d.next_attempt_at - NOW <= SCHEDULE[0] * 1.1
    else:
        assert d.next_attempt_at - NOW == expected


@pytest.fixture
def local_time_ten_hours_ahead(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine's local time set to UTC+10 (a POSIX zone: no time zone database needed)."""
    monkeypatch.setenv("TZ", "AEST-10")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "value",
    ["Sun, 22 Nov 2026 12:10:00 GMT", "Sunday, 22-Nov-26 12:10:00 GMT", "Sun Nov 22 12:10:00 2026",
     "Sun, 22 Nov 2026 12:10:00 -0000", "Sun, 22 Nov 2026 12:10:00 +0000", "Sun, 22 Nov 2026 22:10:00 +1000"],
)  # fmt: skip
def test_an_http_date_in_each_form_is_read_in_gmt_whatever_the_local_time_zone(local_time_ten_hours_ahead, value):
    """asctime's form and a "-0000" zone parse to a time without a zone: GMT, as every HTTP date, never local."""
    assert retry_after({"Retry-After": value}, NOW) == timedelta(minutes=10)


def test_the_cli_and_the_dashboard_read_an_asctime_retry_after_in_gmt_too(local_time_ten_hours_ahead):
    """Both read `Retry-After` through `retry_after`, so neither reads a date without a zone as local time."""
    before = datetime.now(UTC)
    at = before.replace(microsecond=0) + timedelta(hours=1)
    wait = asked_wait({"Retry-After": at.strftime("%a %b %d %H:%M:%S %Y")})  # asctime's form
    after = datetime.now(UTC)
    assert wait is not None and (at - after).total_seconds() <= wait <= (at - before).total_seconds()
    clock, reads = [NOW], []

    def busy() -> tuple[int, None, str]:
        reads.append(clock[0])
        return 503, None, "Sun Nov 22 12:10:00 2026"

    sampler = PoolSampler(busy, clock=lambda: clock[0])
    for minutes in (0, 5, 9, 10):
        clock[0] = NOW + timedelta(minutes=minutes)
        sampler.sample()
    assert reads == [NOW, NOW + timedelta(minutes=10)]  # quiet for the ten minutes asked
