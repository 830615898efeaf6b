"""The site index's RowKey time: fixed-width UTC text whose order is the times' order, in every year a
`since` can name (RFC 3339 years run from 0001 to 9999)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from shared.adapters.azure_job_store import SITE_ROW, time_key

TIMES = [datetime(year, 1, 1, tzinfo=UTC) for year in (1, 26, 999, 1000, 2026, 9999)]


def test_time_keys_are_fixed_width_and_sort_as_the_times_do_in_every_year() -> None:
    keys = [time_key(at) for at in TIMES]
    assert keys[:3] == ["0001-01-01T00:00:00.000000Z", "0026-01-01T00:00:00.000000Z", "0999-01-01T00:00:00.000000Z"]
    assert {len(key) for key in keys} == {27} and sorted(keys) == keys
    assert all(SITE_ROW.fullmatch(f"{key}~j_{'a' * 26}") for key in keys)  # a continuation token at any time


def test_a_time_in_another_zone_is_keyed_in_utc() -> None:
    at = datetime(26, 11, 22, 13, 30, 0, 5, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert time_key(at) == "0026-11-22T08:00:00.000005Z"
