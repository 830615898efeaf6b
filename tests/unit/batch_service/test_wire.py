"""Durations as the SDK sends them and the service writes them; timestamps; the flat error body."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulators.batch_service.wire import INFINITE, BatchError, duration, duration_text, stamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT05M00S", timedelta(minutes=5)),  # the SDK's zero-padded form
        ("PT30M00S", timedelta(minutes=30)),
        ("P1D", timedelta(days=1)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("PT0.5S", timedelta(milliseconds=500)),
    ],
)
def test_durations_parse_in_every_form_the_sdk_sends(text, expected):
    assert duration(text) == expected


def test_durations_are_written_as_the_service_writes_them():
    parsed = [duration(t) for t in ("PT05M00S", "P7D", "PT0S", INFINITE)]
    assert [duration_text(d) for d in parsed if d is not None] == ["PT5M", "P7D", "PT0S", INFINITE]


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)))
def test_a_written_duration_reads_back_the_same(value):
    assert duration(duration_text(value)) == value


@pytest.mark.parametrize("text", ["5 minutes", "PTXM", "-PT5M"])
def test_a_bad_duration_is_invalid_property_value(text):
    with pytest.raises(BatchError) as e:
        duration(text, "constraints.maxWallClockTime")
    assert (e.value.code, e.value.status) == ("InvalidPropertyValue", 400)
    assert e.value.values["PropertyName"] == "constraints.maxWallClockTime"


def test_timestamps_have_seven_fractional_digits():
    assert len(stamp().split(".")[1]) == len("1234567Z")


def test_error_bodies_are_flat_with_key_value_details():
    body = BatchError("TaskExists").body("http://127.0.0.1:1")
    assert body["code"] == "TaskExists" and body["message"]["lang"] == "en-US"
    assert body["message"]["value"].startswith("The specified task already exists.\nRequestId:")
    assert "values" not in body and "odata.error" not in body
    detailed = BatchError("MissingRequiredQueryParameter", values={"QueryParameterName": "api-version"})
    assert detailed.body("x")["values"] == [{"key": "QueryParameterName", "value": "api-version"}]
